"""RFC 4867 depacketiser: both modes, ToC chains, frame types, malformed payloads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siprec_appliance.codecs.amr import AMR_NB, AMR_WB, AmrError, AmrFrame, depacketize
from unit.codec_fixtures import load


@pytest.mark.parametrize("stem", ["amrnb_122", "amrnb_475", "amrwb_1265", "amrwb_2385"])
def test_both_modes_carry_the_same_frames(stem: str) -> None:
    variant = AMR_WB if stem.startswith("amrwb") else AMR_NB
    for octet, be in zip(load(f"{stem}_octet.hex"), load(f"{stem}_be.hex"), strict=True):
        cmr_a, frames_a = depacketize(octet, variant, octet_aligned=True)
        cmr_b, frames_b = depacketize(be, variant, octet_aligned=False)
        assert cmr_a == cmr_b == 15
        assert frames_a == frames_b and 1 <= len(frames_a) <= 2
        for frame in frames_a:
            assert frame.quality and frame.frame_type <= variant.last_speech_type
            assert len(frame.data) == (variant.bits(frame.frame_type) + 7) // 8


def test_octet_aligned_layout_rfc4867_4_4() -> None:
    # CMR 5 | ToC F=1 FT 8 (SID) Q=1 | ToC F=0 FT 15 Q=0 | 5 octets of SID bits.
    sid = bytes([0xAB, 0xCD, 0xEF, 0x12, 0x3E])
    cmr, frames = depacketize(b"\x50\xc4\x78" + sid, AMR_NB, octet_aligned=True)
    assert cmr == 5
    assert frames == [AmrFrame(8, True, sid), AmrFrame(15, False, b"")]
    assert frames[0].storage() == b"\x44" + sid  # RFC 4867 §5.3: 0 FT Q 0 0


def test_bandwidth_efficient_bits_rfc4867_4_3() -> None:
    # CMR 0111 | ToC 0 1000 1 (SID, Q) | 39 SID bits 1,0,1,0... | pad to an octet.
    sid_bits = "10" * 19 + "1"
    bits = "0111" + "010001" + sid_bits
    bits += "0" * (-len(bits) % 8)
    payload = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    cmr, frames = depacketize(payload, AMR_NB, octet_aligned=False)
    assert cmr == 7 and len(frames) == 1 and frames[0].frame_type == 8
    padded = sid_bits + "0"
    assert frames[0].data == bytes(int(padded[i : i + 8], 2) for i in range(0, 40, 8))


@pytest.mark.parametrize(
    ("payload", "octet", "message"),
    [
        (b"\xf0", True, "too short"),
        (b"\xf0\xbc", True, "table of contents runs past"),
        (b"\xf0\x3c" + bytes(30), True, "runs past the payload"),
        (b"\xf0\x4c", True, "reserved frame type 9"),
        (b"\xf3", False, "too short"),
        (b"\xfb\xff", False, "table of contents runs past"),
    ],
)
def test_malformed_payloads_raise_amr_error(payload: bytes, octet: bool, message: str) -> None:
    with pytest.raises(AmrError, match=message):
        depacketize(payload, AMR_NB, octet_aligned=octet)


def test_wideband_frame_types() -> None:
    # FT 9 SID (40 bits), FT 14 SPEECH_LOST, FT 15 NO_DATA, FT 10 reserved.
    _, frames = depacketize(b"\xf0\xcc\xf4\x7c" + bytes(5), AMR_WB, octet_aligned=True)
    assert [f.frame_type for f in frames] == [9, 14, 15]
    with pytest.raises(AmrError, match="reserved frame type 10"):
        depacketize(b"\xf0\x54", AMR_WB, octet_aligned=True)


@settings(max_examples=300)
@given(payload=st.binary(max_size=70), octet=st.booleans(), wide=st.booleans())
def test_fuzz_depacketize_parses_or_raises_amr_error(
    payload: bytes, octet: bool, wide: bool
) -> None:
    variant = AMR_WB if wide else AMR_NB
    try:
        _, frames = depacketize(payload, variant, octet_aligned=octet)
    except AmrError:
        return
    assert frames and all(len(f.data) * 8 >= variant.bits(f.frame_type) for f in frames)
