"""seqkit-video: frame-wise video tagging with a frame CNN under a (bidirectional) RNN.

Train with ``seqkit train --task video --out runs/video`` (built-in clips) or ``--data FOLDER``;
use a trained run from Python::

    import seqkit
    from seqkit_video import tag_video
    run = seqkit.load("runs/video")
    for segment in tag_video(run, "clip.mp4").segments():
        print(segment["start"], segment["end"], segment["tag"])
"""
from seqkit_video.clips import make_clip, tag_names
from seqkit_video.config import ClipConfig, VideoConfig
from seqkit_video.data import VideoAssets
from seqkit_video.decode import Limits, read_frames, read_video, video_info, write_video
from seqkit_video.inference import PredictOptions, Tagging, tag_frames, tag_video
from seqkit_video.metrics import multilabel_metrics, segmentation_metrics
from seqkit_video.model import VideoTagger, build_tagger
from seqkit_video.smoothing import viterbi
from seqkit_video.task import task

__all__ = ["ClipConfig", "Limits", "PredictOptions", "Tagging", "VideoAssets", "VideoConfig",
           "VideoTagger", "build_tagger", "make_clip", "multilabel_metrics", "read_frames",
           "read_video", "segmentation_metrics", "tag_frames", "tag_names", "tag_video", "task",
           "video_info", "viterbi", "write_video"]
