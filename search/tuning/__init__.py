"""A search on Ray Tune: searcher, scheduler, budget, resume, and what runs after the trials."""
