"""Codec decoders on encoder-made fixtures: tone, rate, length, batches, corruption."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siprec_appliance.codecs import DECODERS, decoder_for, parse_codec, parse_fmtp
from siprec_appliance.codecs.base import Decoder
from siprec_appliance.codecs.pyav import opus_packet_samples
from siprec_appliance.rtp import decode_pcmu
from unit.codec_fixtures import load, peak_hz, rms

# fixture, codec, fmtp, sample rate, channels, tone(s) per channel, frame length
TONES = [
    ("g722_1khz.hex", "G722/8000", None, 16000, 1, (1000,), 320),
    ("g729_1khz.hex", "G729/8000", None, 8000, 1, (1000,), 80),
    ("opus_mono_1khz.hex", "opus/48000/2", None, 48000, 1, (1000,), 960),
    ("opus_stereo_1khz_1500hz.hex", "opus/48000/2", "sprop-stereo=1", 48000, 2, (1000, 1500), 960),
    ("amrnb_122_octet.hex", "AMR/8000", "octet-align=1", 8000, 1, (1000,), 160),
    ("amrnb_122_be.hex", "AMR/8000", None, 8000, 1, (1000,), 160),
    ("amrnb_475_octet.hex", "AMR/8000", "octet-align=1", 8000, 1, (1000,), 160),
    ("amrnb_475_be.hex", "AMR/8000", "octet-align=0", 8000, 1, (1000,), 160),
    ("amrwb_1265_octet.hex", "AMR-WB/16000", "octet-align=1", 16000, 1, (1000,), 320),
    ("amrwb_1265_be.hex", "AMR-WB/16000", None, 16000, 1, (1000,), 320),
    ("amrwb_2385_octet.hex", "AMR-WB/16000", "octet-align=1", 16000, 1, (1000,), 320),
    ("amrwb_2385_be.hex", "AMR-WB/16000", None, 16000, 1, (1000,), 320),
]


def _decoder(codec: str, fmtp: str | None = None) -> Decoder:
    decoder = decoder_for(codec, fmtp)
    assert decoder is not None, codec
    return decoder


@pytest.mark.parametrize("case", TONES, ids=[t[0] for t in TONES])
def test_fixture_decodes_to_its_tone(
    case: tuple[str, str, str | None, int, int, tuple[int, ...], int],
) -> None:
    name, codec, fmtp, rate, channels, tones, frame = case
    decoder = _decoder(codec, fmtp)
    assert (decoder.sample_rate, decoder.channels) == (rate, channels)
    decoded = decoder.decode(load(name))
    assert decoded.corrupt == 0
    assert abs(decoded.frames - rate) <= frame, "1 s of audio, give or take one frame"
    assert len(decoded.samples) == decoded.frames * channels
    per_channel = decoded.samples.reshape(-1, channels)
    for channel, tone in enumerate(tones):
        assert abs(peak_hz(per_channel[:, channel], rate) - tone) <= 10
        assert rms(per_channel[:, channel]) > 2000  # -12 dBFS in, not silence out


@pytest.mark.parametrize(("name", "codec", "fmtp"), [(t[0], t[1], t[2]) for t in TONES])
def test_batches_continue_the_codec_state(name: str, codec: str, fmtp: str | None) -> None:
    payloads = load(name)
    whole = _decoder(codec, fmtp).decode(payloads)
    decoder = _decoder(codec, fmtp)
    parts = [decoder.decode(payloads[i : i + 7]) for i in range(0, len(payloads), 7)]
    assert np.array_equal(np.concatenate([p.samples for p in parts]), whole.samples)
    # Each payload's samples are where the offsets say, and as long as its framing.
    for n, payload in enumerate(payloads):
        assert len(whole.payload(n)) == decoder.duration(payload) * decoder.channels


@pytest.mark.parametrize(("octet", "be"), [(f"{s}_octet.hex", f"{s}_be.hex") for s in (
    "amrnb_122", "amrnb_475", "amrwb_1265", "amrwb_2385")])  # fmt: skip
def test_amr_octet_aligned_and_bandwidth_efficient_decode_the_same(octet: str, be: str) -> None:
    codec = "AMR-WB/16000" if octet.startswith("amrwb") else "AMR/8000"
    a = _decoder(codec, "octet-align=1").decode(load(octet))
    b = _decoder(codec, "mode-set=0,2,5,7").decode(load(be))
    assert len(load(octet)[0]) > len(load(be)[0]), "the BE fixture is really bit-packed"
    assert a.frames > 0 and np.array_equal(a.samples, b.samples)


def test_g729_sid_and_empty_payloads_are_silence_of_their_length() -> None:
    payloads = load("g729b_dtx.hex")
    sizes = {len(p) for p in payloads}
    assert {0, 2, 20} <= sizes, "the fixture has speech, a SID and DTX"
    decoder = _decoder("G729/8000", "annexb=yes")
    decoded = decoder.decode(payloads)
    assert decoded.corrupt == 0
    for n, payload in enumerate(payloads):
        expected = (len(payload) // 10 + (len(payload) % 10 == 2)) * 80
        assert len(decoded.payload(n)) == expected
        if len(payload) % 10 == 2:
            assert not decoded.payload(n)[-80:].any(), "SID is silence"
    speech = decoded.samples[: 20 * 160]
    assert abs(peak_hz(speech, 8000) - 1000) <= 10
    # A speech frame followed by SID in one payload (RFC 3551 §4.5.6).
    mixed = decoder.decode([payloads[0][:10] + b"\x9a\x55", b"\x12\x34", b""])
    assert list(np.diff(mixed.offsets)) == [160, 80, 0]
    assert mixed.payload(0)[:80].any() and not mixed.payload(0)[80:].any()
    assert not mixed.payload(1).any()


def test_g711_and_l16_through_the_registry() -> None:
    payload = bytes(range(256))
    pcmu = _decoder("PCMU/8000").decode([payload, payload[:160]])
    assert np.array_equal(pcmu.samples, decode_pcmu(payload + payload[:160]))
    assert list(pcmu.offsets) == [0, 256, 416]
    t = np.arange(441) / 44100
    left = np.round(8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    right = (-left).astype(np.int16)
    stereo = np.stack([left, right], axis=1).reshape(-1)
    l16 = _decoder("L16/44100/2")
    decoded = l16.decode([stereo.astype(">i2").tobytes()])  # RFC 3551: network order
    assert (l16.sample_rate, l16.channels, decoded.frames) == (44100, 2, 441)
    assert np.array_equal(decoded.samples, stereo)


CORRUPT = [
    # codec, fmtp, corrupt payload, silence frames
    ("G729/8000", None, bytes(7), 80),
    ("opus/48000/2", None, b"\xfb\x05abc", 4800),  # code 3 CBR: 3 bytes not 5 frames
    ("opus/48000/2", None, b"\x03\x00", 960),  # code 3 with no frames: nominal 20 ms
    ("AMR/8000", "octet-align=1", b"\xf0\xbc\x3c" + bytes(10), 160),  # truncated
    ("AMR/8000", None, b"\xf4", 160),  # bandwidth-efficient, too short for a ToC
    ("AMR-WB/16000", "octet-align=1", b"\xf0\x54" + bytes(40), 320),  # FT 10 reserved
    ("L16/8000", None, bytes(5), 2),
]


@pytest.mark.parametrize(("codec", "fmtp", "bad", "frames"), CORRUPT)
def test_corrupt_payload_is_counted_and_silent(
    codec: str, fmtp: str | None, bad: bytes, frames: int
) -> None:
    good = {
        "G729/8000": "g729_1khz.hex",
        "opus/48000/2": "opus_mono_1khz.hex",
        "AMR/8000": "amrnb_122_octet.hex" if fmtp else "amrnb_122_be.hex",
        "AMR-WB/16000": "amrwb_1265_octet.hex",
    }
    payloads = load(good[codec])[:10] if codec in good else [bytes(320)] * 10
    decoder = _decoder(codec, fmtp)
    clean = _decoder(codec, fmtp).decode(payloads[:5])
    decoded = decoder.decode([*payloads[:5], bad, *payloads[5:]])
    assert decoded.corrupt == 1
    assert len(decoded.payload(5)) == frames * decoder.channels
    assert not decoded.payload(5).any()
    assert np.array_equal(decoded.samples[: len(clean.samples)], clean.samples)
    if codec in good:  # the decoder goes on after the bad payload
        assert rms(decoded.payload(9)) > 1000


def test_amr_no_data_and_sid_frames_are_silence() -> None:
    octet = _decoder("AMR/8000", "octet-align=1")
    # CMR 15; ToC: FT 15 NO_DATA then FT 8 SID (39 bits -> 5 octets), Q=1.
    decoded = octet.decode([b"\xf0\xfc\x44" + bytes(5)])
    assert decoded.corrupt == 0 and decoded.frames == 320 and not decoded.samples.any()
    be = _decoder("AMR/8000")
    # CMR 1111, ToC 0 1111 1 (NO_DATA), padding: 1111 0111 11|00 0000.
    decoded = be.decode([b"\xf7\xc0"])
    assert decoded.corrupt == 0 and decoded.frames == 160 and not decoded.samples.any()
    wb = _decoder("AMR-WB/16000", "octet-align=1")
    decoded = wb.decode([b"\xf0\x74"])  # FT 14 SPEECH_LOST
    assert decoded.corrupt == 0 and decoded.frames == 320 and not decoded.samples.any()


def test_opus_packet_durations_follow_the_toc() -> None:
    assert opus_packet_samples(b"\x78") == 960  # config 15 hybrid 20 ms, one frame
    assert opus_packet_samples(b"\x79") == 1920  # code 1: two frames
    assert opus_packet_samples(b"\x0b\x83") == 3 * 960  # SILK 20 ms, code 3 VBR x3
    assert opus_packet_samples(b"\x18") == 2880  # config 3: SILK 60 ms
    assert opus_packet_samples(b"\xfb\x05") == 4800  # CELT 20 ms x 5 (code 3)
    assert opus_packet_samples(b"\x03") is None and opus_packet_samples(b"") is None
    assert opus_packet_samples(b"\xfb\x07") is None  # 140 ms is over 120 ms


def test_registry_picks_rates_channels_and_refuses_what_it_cannot_decode() -> None:
    assert set(DECODERS) == {"pcmu", "pcma", "g722", "g729", "opus", "amr", "amr-wb", "l16"}
    formats = {
        ("PCMA/8000", None): (8000, 8000, 1),
        ("G722/8000", None): (16000, 8000, 1),
        ("g729/8000", "annexb=no"): (8000, 8000, 1),
        ("opus/48000/2", "minptime=10;useinbandfec=1"): (48000, 48000, 1),
        ("opus/48000/2", "stereo=1; sprop-stereo=1"): (48000, 48000, 2),
        ("AMR/8000", "octet-align=1; mode-set=7"): (8000, 8000, 1),
        ("AMR-WB/16000", None): (16000, 16000, 1),
        ("L16/16000", None): (16000, 16000, 1),
    }
    for (codec, fmtp), expected in formats.items():
        d = _decoder(codec, fmtp)
        assert (d.sample_rate, d.clock_rate, d.channels) == expected, codec
    for codec, fmtp in [
        ("GSM/8000", None),
        ("telephone-event/8000", None),
        ("PCMU", None),
        ("PCMU/x", None),
        ("PCMU/16000", None),
        ("AMR/8000", "octet-align=1; interleaving=4"),
        ("AMR/8000", "octet-align=1; crc=1"),
        ("AMR/8000/2", "octet-align=1"),
        ("opus/8000", None),
    ]:
        assert decoder_for(codec, fmtp) is None, codec
    spec = parse_codec("Opus/48000/2", "96 stereo=1;useinbandfec")
    assert spec is not None and spec.name == "opus" and spec.channels == 2
    assert dict(spec.fmtp) == {"stereo": "1", "useinbandfec": ""}
    assert parse_fmtp(None) == {}


@settings(max_examples=60, deadline=None)
@given(
    codec=st.sampled_from(
        [
            ("PCMU/8000", None),
            ("G722/8000", None),
            ("G729/8000", None),
            ("opus/48000/2", "stereo=1"),
            ("AMR/8000", "octet-align=1"),
            ("AMR/8000", None),
            ("AMR-WB/16000", "octet-align=1"),
            ("AMR-WB/16000", None),
            ("L16/8000/2", None),
        ]
    ),
    payloads=st.lists(st.binary(max_size=80), max_size=6),
)
def test_fuzz_any_payload_decodes_to_its_framed_length(
    codec: tuple[str, str | None], payloads: list[bytes]
) -> None:
    """Invariant for network input: never raises; each payload gets duration() frames."""
    decoder = _decoder(*codec)
    decoded = decoder.decode(payloads)
    assert decoded.samples.dtype == np.int16
    assert list(np.diff(decoded.offsets)) == [decoder.duration(p) for p in payloads]
    assert len(decoded.samples) == decoded.frames * decoder.channels
