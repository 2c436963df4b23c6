"""The report's sentiment classifiers: an LSTM and a bidirectional LSTM over token ids.

Both read right-padded id sequences (the tweets task pads at the end with `pad_id`).
Padding never reaches the recurrent state: sequences are packed by their true length,
and mean / max pooling mask the padded steps, so a tweet gets the same logits however
much padding its batch needs.

`bag_of_words` adds a wide part beside the deep one (as in wide & deep models and
fastText): a linear score per class for every word in the tweet, summed, added to the
LSTM's logits. On 8,000 training tweets, words like "thanks" or "delayed" decide most
labels on their own; the linear part learns them in an epoch and leaves the LSTM the
word order (negation, contrast), which is what it is for.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal, get_args

import torch
from pydantic import Field
from search.models import Probability, register_model
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Pooling = Literal["last", "mean", "max"]
Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, pad_id: int, embedding_dim: int,
                 hidden_size: int, num_layers: int, dropout: float, bidirectional: bool,
                 pooling: str, fc_layers: int, embedding_dropout: float, bag_of_words: bool):
        super().__init__()
        if pooling not in get_args(Pooling):
            allowed = ", ".join(get_args(Pooling))
            raise ValueError(f"pooling must be one of {allowed}, got {pooling!r}")
        self.pad_id, self.pooling = pad_id, pooling
        # padding_idx: the PAD row stays zero and gets no gradient.
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        # Dropout on the word vectors: with 8,000 training tweets the embedding table is
        # most of the parameters and the first thing to overfit.
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        # nn.LSTM applies its dropout between layers only (and warns when there is one layer).
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        features = hidden_size * (2 if bidirectional else 1)
        head: list[nn.Module] = []
        for _ in range(fc_layers):  # the BiLSTM's fully connected layers, each hidden_size wide
            head += [nn.Linear(features, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            features = hidden_size
        head.append(nn.Linear(features, num_classes))
        self.head = nn.Sequential(*head)
        self.bag: nn.EmbeddingBag | None = None
        if bag_of_words:
            # Zero at the start, so the model begins as the plain LSTM; PAD counts for nothing.
            self.bag = nn.EmbeddingBag(vocab_size, num_classes, mode="sum", padding_idx=pad_id)
            nn.init.zeros_(self.bag.weight)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # tokens: (batch, steps) int64
        is_token = tokens != self.pad_id
        # A tweet cleaned down to nothing is all padding: read one (zero) step of it,
        # since packing refuses empty sequences.
        lengths = is_token.sum(dim=1).clamp(min=1)
        embedded = self.embedding_dropout(self.embedding(tokens))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, (last_hidden, _) = self.lstm(packed)
        if self.pooling == "last":
            # The top layer's final state at each sequence's true end (both directions if
            # bidirectional: forward ends at the last token, backward at the first).
            directions = 2 if self.lstm.bidirectional else 1
            features = torch.cat(list(last_hidden[-directions:]), dim=1)
        else:
            steps, _ = pad_packed_sequence(outputs, batch_first=True, total_length=tokens.size(1))
            positions = torch.arange(tokens.size(1), device=tokens.device)
            mask = (positions[None, :] < lengths[:, None])[..., None]  # (batch, steps, 1)
            if self.pooling == "mean":
                features = (steps * mask).sum(dim=1) / lengths[:, None]
            else:
                features = steps.masked_fill(~mask, float("-inf")).amax(dim=1)
        logits = self.head(self.dropout(features))
        return logits if self.bag is None else logits + self.bag(tokens)


@register_model("lstm")
def lstm(vocab_size: int, num_classes: int, pad_id: int, embedding_dim: Positive = 128,
         hidden_size: Positive = 64, num_layers: Positive = 3, dropout: Probability = 0.0,
         bidirectional: bool = False, pooling: Pooling = "last",
         fc_layers: NonNegative = 0, embedding_dropout: Probability = 0.0,
         bag_of_words: bool = False) -> nn.Module:
    """The report's base LSTM: embedding 128, three LSTM layers of 64, a Linear head.

    Args:
        embedding_dim: The size of the word vectors.
        hidden_size: Units per LSTM layer and direction (and per fully connected layer).
        num_layers: LSTM layers, stacked.
        dropout: Dropout between the LSTM layers, after pooling and after each fully connected layer.
        bidirectional: Each layer reads the text both ways.
        pooling: How the sequence becomes one vector: the last state, or the mean or max over time.
        fc_layers: ReLU layers between the LSTM and the output layer.
        embedding_dropout: Dropout on the word vectors.
        bag_of_words: Adds a linear score per class for each word of the text to the LSTM's output
            (the wide part of a wide & deep model).
    """
    return LSTMClassifier(vocab_size, num_classes, pad_id, embedding_dim, hidden_size, num_layers,
                          dropout, bidirectional, pooling, fc_layers, embedding_dropout, bag_of_words)


# The report's BiLSTM: the same builder with its defaults (three bidirectional layers,
# dropout 0.2, two ReLU layers before the output); the signature stays the option schema.
bilstm = register_model("bilstm")(functools.partial(lstm, dropout=0.2, bidirectional=True, fc_layers=2))
