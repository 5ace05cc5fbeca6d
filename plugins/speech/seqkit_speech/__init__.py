"""seqkit-speech: speech recognition with a log-mel front-end, an RNN encoder and CTC.

Train with ``seqkit train --task speech --out runs/speech`` (built-in eSpeak NG digits) or
``--data FOLDER`` (a CSV of path,text, FSDD or yesno layouts, ``hf:ID``); use a run from
Python::

    import seqkit
    from seqkit_speech import transcribe
    run = seqkit.load("runs/speech")
    print(transcribe(run, "digits.wav").text)
"""
from seqkit_speech.audio import read_audio
from seqkit_speech.config import SpeechConfig, SynthConfig
from seqkit_speech.data import SpeechAssets
from seqkit_speech.inference import PredictOptions, Recognizer, Transcript, transcribe
from seqkit_speech.model import SpeechModel, StreamState
from seqkit_speech.recognize import Emission
from seqkit_speech.sources import Clip, read_clips
from seqkit_speech.synth import ESpeak, synth_split
from seqkit_speech.task import accuracy, task

__all__ = ["Clip", "ESpeak", "Emission", "PredictOptions", "Recognizer", "SpeechAssets",
           "SpeechConfig", "SpeechModel", "StreamState", "SynthConfig", "Transcript",
           "accuracy", "read_audio", "read_clips", "synth_split", "task", "transcribe"]
