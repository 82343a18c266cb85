"""The Llama SentencePiece tokenizer, reproducing the ids of the reference's *slow, non-legacy* Llama tokenizer.

transformers 5.x has no slow Llama tokenizer, so this re-implements its behaviour on top of
sentencepiece (spec §1.7, §6.3):

- the SentencePiece model is loaded with ``add_dummy_prefix`` switched off, and a prefix space is added by
  hand to the start of the text only;
- text that starts with a space is encoded behind the unknown-token string and those leading pieces are
  dropped again, so that SentencePiece cannot swallow the leading space;
- special tokens written in the text (``<s>``, ``</s>``, ``<unk>``) are split off and mapped to their ids.
"""

from __future__ import annotations

import re

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

SPIECE_UNDERLINE = "\u2581"


class DamTokenizer:
    """Text <-> ids for the DAM LLM. ``encode`` adds BOS like the reference's ``tokenizer(text).input_ids``."""

    def __init__(self, model_proto: bytes, add_bos: bool = True, add_prefix_space: bool = True) -> None:
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(model_proto)
        proto.normalizer_spec.add_dummy_prefix = False
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(proto.SerializeToString())
        self.model_proto = model_proto  # the original file, for saving a checkpoint
        self.add_bos = add_bos
        self.add_prefix_space = add_prefix_space
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        self.unk_id = self.sp.unk_id()
        self.unk_token = self.sp.id_to_piece(self.unk_id)
        self.special_ids = {i for i in (self.unk_id, self.bos_id, self.eos_id, self.sp.pad_id()) if i >= 0}
        self.special_tokens = {self.sp.id_to_piece(i): i for i in self.special_ids}
        # Longest first, so that a special token containing another one is matched whole.
        names = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(re.escape(n) for n in names) + ")")
        self._unk_prefix_len = len(self.sp.encode(self.unk_token))
        underline = self.sp.piece_to_id(SPIECE_UNDERLINE)
        self._underline_id = underline if underline != self.unk_id else None

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``: BOS (when the config adds it) then the pieces, as the reference tokenizes a chunk."""
        ids = [self.bos_id] if self.add_bos else []
        if not text:
            return ids
        text = text.replace(SPIECE_UNDERLINE, " ")
        if self.add_prefix_space:
            text = SPIECE_UNDERLINE + text
        pieces: list[int] = []
        for part in self._special_re.split(text):
            if not part:
                continue
            if part in self.special_tokens:
                pieces.append(self.special_tokens[part])
            else:
                pieces.extend(self._encode_plain(part))
        # A lone prefix-space piece in front of a special token is dropped, as the reference does.
        if len(pieces) > 1 and pieces[0] == self._underline_id and pieces[1] in self.special_ids:
            pieces = pieces[1:]
        return ids + pieces

    def _encode_plain(self, text: str) -> list[int]:
        if not text.startswith((SPIECE_UNDERLINE, " ")):
            return self.sp.encode(text)
        # SentencePiece would treat a leading space specially: encode behind "<unk>" and drop those pieces.
        ids = self.sp.encode(self.unk_token + text)
        return ids[self._unk_prefix_len:] if len(ids) >= self._unk_prefix_len else ids

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` with special tokens skipped (the reference's ``skip_special_tokens=True``)."""
        size = self.sp.get_piece_size()
        pieces = [self.sp.id_to_piece(i) for i in ids if i not in self.special_ids and 0 <= i < size]
        if pieces and self.add_prefix_space and pieces[0].startswith(SPIECE_UNDERLINE):
            pieces[0] = pieces[0][1:]  # the prefix space added when encoding
        return self.sp.decode_pieces(pieces)
