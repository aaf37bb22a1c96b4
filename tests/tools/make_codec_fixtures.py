"""Generate the codec fixtures under tests/data/codecs (run by hand; output is committed).

Each fixture is a text file of RTP payloads, one hex string per line ("-" for an
empty payload), after "#" comment lines that say what it holds. The encoders:

* G.722, Opus, AMR-NB: FFmpeg through PyAV (g722, libopus, libopencore_amrnb).
* G.729 (with and without Annex B VAD/DTX): Debian's bcg729 through ctypes
  (``apt-get install libbcg729-0``); FFmpeg has no G.729 encoder.
* AMR-WB: Debian's libvo-amrwbenc through ctypes (``apt-get install libvo-amrwbenc0``).

AMR frames come out of the encoders in the storage format (RFC 4867 §5.3) and
are packed here into RTP payloads in both the octet-aligned and the
bandwidth-efficient mode (RFC 4867 §4.3, §4.4), two frames per packet, by a
packer written separately from the recorder's depacketiser (bit strings here,
integers there), so the two check each other.

Usage: .venv/bin/python tests/tools/make_codec_fixtures.py [output directory]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "codecs"
AMPLITUDE = 8000  # about -12 dBFS


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def write(name: str, payloads: Iterable[bytes], comments: list[str]) -> None:
    lines = [f"# {c}" for c in comments]
    lines += [p.hex() if p else "-" for p in payloads]
    (OUT / name).write_text("\n".join(lines) + "\n")
    print(f"{name}: {len(lines) - len(comments)} payloads")


# ---------------------------------------------------------------- PyAV encoders
def pyav_encode(
    codec: str, pcm: np.ndarray, rate: int, frame: int, *, layout: str = "mono", **opts: int
) -> list[bytes]:
    """Encode int16 PCM (shape (n,) or (n, 2)) in frames of ``frame`` samples."""
    context = av.CodecContext.create(codec, "w")
    context.sample_rate = rate
    context.layout = layout
    context.format = "s16"
    for key, value in opts.items():
        setattr(context, key, value)
    context.open()
    out: list[bytes] = []
    for start in range(0, len(pcm) - frame + 1, frame):
        chunk = np.ascontiguousarray(pcm[start : start + frame]).reshape(1, -1)
        audio = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
        audio.sample_rate = rate
        audio.pts = start
        out += [bytes(p) for p in context.encode(audio)]
    out += [bytes(p) for p in context.encode(None)]
    return out


# ------------------------------------------------------------- ctypes encoders
def bcg729_encode(pcm: np.ndarray, *, vad: bool) -> list[bytes]:
    """10 ms G.729 frames: 10 bytes of speech, 2 bytes of SID, or 0 (DTX)."""
    lib = ctypes.CDLL(ctypes.util.find_library("bcg729") or "libbcg729.so.0")
    lib.initBcg729EncoderChannel.restype = ctypes.c_void_p
    lib.initBcg729EncoderChannel.argtypes = [ctypes.c_uint8]
    lib.bcg729Encoder.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.POINTER(ctypes.c_uint8),
        ctypes.POINTER(ctypes.c_uint8),
    ]
    lib.closeBcg729EncoderChannel.argtypes = [ctypes.c_void_p]
    channel = lib.initBcg729EncoderChannel(1 if vad else 0)
    out = (ctypes.c_uint8 * 10)()
    length = ctypes.c_uint8()
    frames = []
    for start in range(0, len(pcm) - 79, 80):
        chunk = np.ascontiguousarray(pcm[start : start + 80], dtype=np.int16)
        lib.bcg729Encoder(
            channel, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), out, length
        )
        frames.append(bytes(out[: length.value]))
    lib.closeBcg729EncoderChannel(channel)
    return frames


def amrwb_encode(pcm: np.ndarray, mode: int) -> list[bytes]:
    """20 ms AMR-WB frames in the storage format, from libvo-amrwbenc."""
    lib = ctypes.CDLL(ctypes.util.find_library("vo-amrwbenc") or "libvo-amrwbenc.so.0")
    lib.E_IF_init.restype = ctypes.c_void_p
    lib.E_IF_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_short),
        ctypes.POINTER(ctypes.c_ubyte),
        ctypes.c_int,
    ]
    lib.E_IF_exit.argtypes = [ctypes.c_void_p]
    state = lib.E_IF_init()
    out = (ctypes.c_ubyte * 64)()
    frames = []
    for start in range(0, len(pcm) - 319, 320):
        chunk = np.ascontiguousarray(pcm[start : start + 320], dtype=np.int16)
        size = lib.E_IF_encode(
            state, mode, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_short)), out, 0
        )
        frames.append(bytes(out[:size]))
    lib.E_IF_exit(state)
    return frames


# ----------------------------------------------------------- RFC 4867 packing
# Speech bits per frame type (3GPP TS 26.101 / 26.201 Table 1a).
NB_BITS = {0: 95, 1: 103, 2: 118, 3: 134, 4: 148, 5: 159, 6: 204, 7: 244, 8: 39, 15: 0}
WB_BITS = {0: 132, 1: 177, 2: 253, 3: 285, 4: 317, 5: 365, 6: 397, 7: 461, 8: 477, 9: 40}
WB_BITS |= {14: 0, 15: 0}


def pack_amr(storage: list[bytes], bits: dict[int, int], *, octet_aligned: bool) -> bytes:
    """One RTP payload from storage-format frames (CMR 15: no mode request)."""
    entries = []
    for n, frame in enumerate(storage):
        frame_type, quality = (frame[0] >> 3) & 0x0F, (frame[0] >> 2) & 1
        follow = 1 if n < len(storage) - 1 else 0
        speech = "".join(f"{b:08b}" for b in frame[1:])[: bits[frame_type]]
        entries.append((follow, frame_type, quality, speech))
    if octet_aligned:  # §4.4: CMR R | ToC octets | frames, each padded to an octet
        out = bytes([0xF0])
        out += bytes((f << 7) | (ft << 3) | (q << 2) for f, ft, q, _ in entries)
        for *_, speech in entries:
            out += _bits_to_bytes(speech)
        return out
    # §4.3: CMR(4) | ToC F FT Q (6 bits each) | frames back to back | pad
    stream = "1111" + "".join(f"{f}{ft:04b}{q}" for f, ft, q, _ in entries)
    stream += "".join(speech for *_, speech in entries)
    return _bits_to_bytes(stream)


def _bits_to_bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def pairs(frames: list[bytes]) -> list[list[bytes]]:
    return [frames[i : i + 2] for i in range(0, len(frames), 2)]


# ------------------------------------------------------------------- fixtures
def make_g722() -> None:
    frames = pyav_encode("g722", tone(1000, 1.0, 16000), 16000, 320)
    write(
        "g722_1khz.hex",
        frames,
        ["G722/8000, PyAV g722 encoder: 1 kHz tone, 1 s at 16 kHz, 20 ms (160 B) payloads"],
    )


def make_opus() -> None:
    mono = pyav_encode("libopus", tone(1000, 1.0, 48000), 48000, 960, bit_rate=32000)
    write(
        "opus_mono_1khz.hex",
        mono,
        ["opus/48000/2, PyAV libopus 32 kbit/s mono: 1 kHz tone, 1 s, 20 ms payloads"],
    )
    stereo_pcm = np.stack([tone(1000, 1.0, 48000), tone(1500, 1.0, 48000)], axis=1)
    stereo = pyav_encode("libopus", stereo_pcm, 48000, 960, layout="stereo", bit_rate=96000)
    write(
        "opus_stereo_1khz_1500hz.hex",
        stereo,
        [
            "opus/48000/2 sprop-stereo=1, PyAV libopus 96 kbit/s stereo:",
            "left 1 kHz, right 1.5 kHz, 1 s, 20 ms payloads",
        ],
    )


def make_amr_nb() -> None:
    for kbps, bit_rate in (("122", 12200), ("475", 4750)):
        frames = pyav_encode(
            "libopencore_amrnb", tone(1000, 1.0, 8000), 8000, 160, bit_rate=bit_rate
        )
        for mode, octet in (("octet", True), ("be", False)):
            write(
                f"amrnb_{kbps}_{mode}.hex",
                [pack_amr(p, NB_BITS, octet_aligned=octet) for p in pairs(frames)],
                [
                    f"AMR/8000 {'octet-align=1' if octet else 'bandwidth-efficient'},",
                    f"PyAV libopencore_amrnb {bit_rate} bit/s: 1 kHz tone, 1 s,",
                    "two 20 ms frames per payload, CMR 15",
                ],
            )


def make_amr_wb() -> None:
    for kbps, mode_index in (("1265", 2), ("2385", 8)):
        frames = amrwb_encode(tone(1000, 1.0, 16000), mode_index)
        for mode, octet in (("octet", True), ("be", False)):
            write(
                f"amrwb_{kbps}_{mode}.hex",
                [pack_amr(p, WB_BITS, octet_aligned=octet) for p in pairs(frames)],
                [
                    f"AMR-WB/16000 {'octet-align=1' if octet else 'bandwidth-efficient'},",
                    f"libvo-amrwbenc mode {mode_index}: 1 kHz tone, 1 s,",
                    "two 20 ms frames per payload, CMR 15",
                ],
            )


def make_g729() -> None:
    frames = bcg729_encode(tone(1000, 1.0, 8000), vad=False)
    write(
        "g729_1khz.hex",
        [b"".join(p) for p in pairs(frames)],
        ["G729/8000, bcg729 without VAD: 1 kHz tone, 1 s, 20 ms (2 frames) payloads"],
    )
    pcm = np.concatenate([tone(1000, 0.4, 8000), np.zeros(4800, dtype=np.int16)])
    frames = bcg729_encode(pcm, vad=True)
    write(
        "g729b_dtx.hex",
        [b"".join(p) for p in pairs(frames)],
        [
            "G729/8000 annexb=yes, bcg729 with VAD/DTX: 1 kHz tone 0.4 s, then 0.6 s of",
            "digital silence; 20 ms per line: 20 B speech, 10+2 B speech+SID, 2 B SID,",
            "or empty ('-', nothing sent in DTX)",
        ],
    )


def main() -> None:
    global OUT
    if len(sys.argv) > 1:
        OUT = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    make_g722()
    make_opus()
    make_amr_nb()
    for maker in (make_g729, make_amr_wb):
        try:
            maker()
        except OSError as exc:  # the Debian library is not installed
            print(f"{maker.__name__}: skipped ({exc})")


if __name__ == "__main__":
    main()
