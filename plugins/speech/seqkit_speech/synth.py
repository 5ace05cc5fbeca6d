"""The built-in data: utterances synthesised with eSpeak NG, no network needed.

``espeakng-loader`` (PyPI) ships ``libespeak-ng`` and its voice data; we drive ``espeak_Synth``
through ctypes in synchronous mode, where a callback receives 22,050 Hz 16-bit samples. Each
utterance is a digit string or a word of a small list, said by a random English voice and
variant at a random rate and pitch, with white noise added. Everything is drawn from a
``random.Random`` seeded by (seed, split, index), so a split is the same on every machine.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import random
import threading
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from seqkit.errors import SeqkitError
from seqkit_speech.config import SynthConfig

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORDS = ["yes", "no", "stop", "go", "left", "right", "up", "down", "on", "off"]
VOICES = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc"]
VARIANTS = [f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 6)]
SYNTH_RATE = 22050  # eSpeak NG's output rate
_SYNCHRONOUS, _RATE, _PITCH, _UTF8 = 2, 1, 3, 1  # espeak_AUDIO_OUTPUT, parameters, text flags
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class ESpeak:
    """One process-wide eSpeak NG engine (the library keeps global state: calls hold a lock)."""

    _instance: "ESpeak | None" = None
    _lock = threading.Lock()

    def __init__(self):
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path().encode()
        except (ImportError, OSError, RuntimeError) as err:
            raise SeqkitError(f"eSpeak NG is not available ({err}); pip install "
                              "espeakng-loader, or train on your own --data") from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        if lib.espeak_Initialize(_SYNCHRONOUS, 0, data, 0) != SYNTH_RATE:
            raise SeqkitError("eSpeak NG failed to initialise from espeakng-loader's data")
        self.lib, self.chunks = lib, []
        # some variants breathe: noise from eSpeak's own generator, which espeak_Initialize
        # seeds from the clock; say() reseeds it per utterance so that samples follow the request
        self.reseed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self.reseed is not None:
            self.reseed.argtypes, self.reseed.restype = [ctypes.c_long], None
        self.callback = _CALLBACK(self._receive)  # kept alive as long as the engine
        lib.espeak_SetSynthCallback(self.callback)

    @classmethod
    def get(cls) -> "ESpeak":
        """The engine, initialised on first use."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _receive(self, wav, count, events) -> int:
        if count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # go on synthesising

    def say(self, text: str, voice: str = "en-us", rate: int = 170, pitch: int = 50) -> np.ndarray:
        """``text`` spoken by ``voice`` (``name[+variant]``) as int16 samples at 22,050 Hz."""
        encoded = text.encode("utf-8")
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SeqkitError(f"eSpeak NG has no voice '{voice}'")
            self.lib.espeak_SetParameter(_RATE, int(rate), 0)
            self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
            self.chunks = []
            if self.reseed is not None:
                self.reseed(zlib.crc32(f"{voice}|{rate}|{pitch}|{text}".encode()))
            self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, 1, 0, _UTF8, None, None)
            self.lib.espeak_Synchronize()
            chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


@dataclass
class Utterance:
    """One synthesised utterance."""

    text: str  # what is said
    samples: np.ndarray  # (N,) float32 at SYNTH_RATE, noise included
    voice: str  # eSpeak voice and variant


def utterance_text(rng: random.Random, config: SynthConfig) -> str:
    """A digit string of ``min_digits..max_digits`` words, or one word of the list."""
    if rng.random() < config.word_fraction:
        return rng.choice(WORDS)
    count = rng.randint(config.min_digits, config.max_digits)
    return " ".join(rng.choice(DIGITS) for _ in range(count))


def _say_all(requests: list[tuple[str, str, int, int]]) -> list[np.ndarray]:
    """Synthesise ``(text, voice, rate, pitch)`` requests in order, in this process."""
    engine = ESpeak.get()
    return [engine.say(*request) for request in requests]


def _say_fresh(requests: list[tuple[str, str, int, int]]) -> list[np.ndarray]:
    """``_say_all`` in a forked child whose eSpeak starts fresh.

    eSpeak NG keeps state across utterances (its pitch flutter runs on through every call, and
    ``espeak_Initialize`` does not reset it), so an utterance's samples depend on everything
    said before it in the process. A fresh child per split makes a split the same whatever
    the parent synthesised earlier. Where fork is not available, it runs here.
    """
    if "fork" not in mp.get_all_start_methods() or ESpeak._instance is not None:
        return _say_all(requests)
    with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
        return pool.submit(_say_all, requests).result()


def synth_split(config: SynthConfig, split: str, count: int,
                texts: list[str] | None = None) -> list[Utterance]:
    """The first ``count`` utterances of ``split``: text, voice, rate, pitch and noise drawn
    from a generator seeded by (seed, split, index); the same on every call. With ``texts``,
    each says one of those (drawn) instead of a digit string or a word of the list."""
    stream = {"train": 0, "valid": 1, "test": 2}.get(split, 3)
    plans, requests = [], []
    for index in range(count):
        rng = random.Random((config.seed * 7919 + stream) * 1_000_003 + index)
        text = rng.choice(texts) if texts else utterance_text(rng, config)
        voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
        requests.append((text, voice, rng.randint(*config.rate), rng.randint(*config.pitch)))
        plans.append((rng.uniform(0, config.noise), rng.getrandbits(32)))
    utterances = []
    for (text, voice, _, _), (level, seed), samples in zip(requests, plans, _say_fresh(requests)):
        wave = samples.astype(np.float32) / 32768.0
        noise = np.random.default_rng(seed).standard_normal(len(wave)).astype(np.float32)
        utterances.append(Utterance(text, wave + level * noise, voice))
    return utterances
