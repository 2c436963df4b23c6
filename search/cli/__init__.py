"""The command line's arguments, its dry run and what a search prints."""
