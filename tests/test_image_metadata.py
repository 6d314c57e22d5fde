"""Parameters spliced into JPEG and WebP files without re-encoding, and read back from all three formats."""

from __future__ import annotations

import io
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, JpegImagePlugin, TiffImagePlugin, WebPImagePlugin

from backends.base import GenerationRequest
from backends.history import read_image_parameters
from backends.history.a1111 import a1111_parameters
from backends.history.exif_xmp import XMP_NAMESPACE, decode_user_comment, exif_with_user_comment, xmp_packet
from backends.history.image_files import JPEG, PNG, WEBP, embed_metadata, image_kind
from backends.history.parameters import JSON_KEY, playground_metadata
from tests.conftest import hypothesis_examples
from tests.probes import restored_request

REQUEST = GenerationRequest(
    prompt="一只橘猫坐在窗台上, golden light <&> \"quoted\"",
    negative_prompt="模糊, low quality",
    width=96,
    height=64,
    n=2,
    seed=1000,
    steps=25,
    guidance=6.0,
    scheduler="DPMSolverMultistepScheduler",
    output_format="webp",
    output_quality=80,
)
SEED = 1001
PARAMETERS = a1111_parameters(REQUEST, seed=SEED, model="Kwai-Kolors/Kolors", backend_label="Segmind")
PLAYGROUND_JSON = playground_metadata(
    REQUEST, seed=SEED, image_index=1, backend_id="segmind", backend_label="Segmind",
    model="Kwai-Kolors/Kolors", generation_id="gen123", created_at=1700000000.5,
)

# What AUTOMATIC1111 writes into a JPEG or WebP: piexif 1.1.3's
# ``piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(A1111_TEXT,
# encoding="unicode")}})``, captured once (piexif is not a dependency of this project).
A1111_TEXT = (
    "a castle on a hill\nNegative prompt: people\n"
    "Steps: 33, Sampler: Euler a, CFG scale: 5.5, Seed: 4242, Size: 1024x768, Model: Kolors"
)
A1111_EXIF = bytes.fromhex(
    "4578696600004d4d002a00000008000187690004000000010000001a000000000001928600070000010a00000028554e"
    "49434f444500006100200063006100730074006c00650020006f006e00200061002000680069006c006c000a004e0065"
    "006700610074006900760065002000700072006f006d00700074003a002000700065006f0070006c0065000a00530074"
    "006500700073003a002000330033002c002000530061006d0070006c00650072003a002000450075006c006500720020"
    "0061002c00200043004600470020007300630061006c0065003a00200035002e0035002c00200053006500650064003a"
    "00200034003200340032002c002000530069007a0065003a002000310030003200340078003700360038002c0020004d"
    "006f00640065006c003a0020004b006f006c006f00720073"
)


def metadata_problem(data: bytes, parameters: str) -> str | None:
    """Why the store could not splice ``parameters`` into ``data`` (it then keeps a PNG); None when it can."""
    try:
        embed_metadata(data, parameters=parameters, playground_json="")
    except ValueError as exc:
        return str(exc)
    return None


def picture(size=(96, 64), mode="RGB") -> Image.Image:
    image = Image.effect_mandelbrot(size, (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(size))
    return image


def encode(fmt: str, *, mode="RGB", size=(96, 64), **options) -> bytes:
    out = io.BytesIO()
    picture(size, mode).save(out, format=fmt, **options)
    return out.getvalue()


PROVIDER_FILES = {
    "webp-lossy": lambda: encode("WEBP", quality=80),
    "webp-lossless": lambda: encode("WEBP", lossless=True),
    "webp-lossless-rgba": lambda: encode("WEBP", mode="RGBA", lossless=True),
    "webp-lossy-rgba (VP8X)": lambda: encode("WEBP", mode="RGBA", quality=80),
    "jpeg": lambda: encode("JPEG", quality=80),
    "jpeg-progressive": lambda: encode("JPEG", quality=90, progressive=True),
}


def embed(data: bytes, json_text: str = PLAYGROUND_JSON, parameters: str = PARAMETERS) -> bytes:
    return embed_metadata(data, parameters=parameters, playground_json=json_text)


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, image.size, image.tobytes()


# -- container helpers for the assertions ------------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of the segments before SOS."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        marker, (length,) = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return out


def without_our_jpeg_segments(data: bytes) -> bytes:
    """``data`` minus its APP1 Exif and XMP segments."""
    parts, pos = [data[:2]], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if not (data[pos + 1] == 0xE1 and segment[4:].startswith((b"Exif\0\0", b"http://ns.adobe.com/xap/1.0/\0"))):
            parts.append(segment)
        pos += 2 + length
    return b"".join(parts) + data[pos:]


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, "the RIFF size must cover the file"
    out, pos = [], 12
    while pos < len(data):
        fourcc, (length,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        out.append((fourcc, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    assert pos == len(data)
    return out


def without_our_webp_chunks(data: bytes) -> bytes:
    """``data`` minus its EXIF and XMP chunks, and minus the VP8X chunk when one bitstream is left."""
    chunks = [(c, p) for c, p in riff_chunks(data) if c not in (b"EXIF", b"XMP ")]
    if chunks[0][0] == b"VP8X" and [c for c, _ in chunks[1:]] in ([b"VP8 "], [b"VP8L"]):
        chunks = chunks[1:]
    body = b"".join(c + struct.pack("<I", len(p)) + p + b"\0" * (len(p) & 1) for c, p in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def exif_ifd_entries(tiff: bytes) -> dict[int, tuple[int, object]]:
    """{tag: (TIFF type, value)} of the Exif IFD, read with Pillow's TIFF directory reader."""
    if tiff.startswith(b"Exif\0\0"):
        tiff = tiff[6:]
    fp = io.BytesIO(tiff)
    ifd0 = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    fp.seek(ifd0.next)
    ifd0.load(fp)
    sub = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    fp.seek(ifd0[ExifTags.IFD.Exif])
    sub.load(fp)
    return {tag: (sub.tagtype[tag], sub[tag]) for tag in sub}


def a1111_reads(data: bytes) -> str | None:
    """AUTOMATIC1111's modules/images.py read_info_from_image, with Pillow's EXIF reader in piexif's
    place: the UserComment's raw bytes, then piexif.helper.UserComment.load (UNICODE: UTF-16BE)."""
    with Image.open(io.BytesIO(data)) as image:
        items = dict(image.info)
    geninfo = items.pop("parameters", None)
    if "exif" in items:
        exif = Image.Exif()
        exif.load(items["exif"])
        comment = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.UserComment, b"")
        prefixes = {b"ASCII\0\0\0": "ascii", b"JIS\0\0\0\0\0": "shift_jis", b"UNICODE\0": "utf_16_be"}
        if comment[:8] in prefixes:
            comment = comment[8:].decode(prefixes[comment[:8]], errors="replace")
        else:
            comment = comment.decode("utf8", errors="ignore")
        if comment:
            geninfo = comment
    return geninfo


# -- the file is the provider's file plus metadata ------------------------------------------------------


@pytest.mark.parametrize("name", list(PROVIDER_FILES))
def test_pixels_decode_exactly_as_the_providers_bytes(name):
    source = PROVIDER_FILES[name]()
    stored = embed(source)
    assert image_kind(stored) is image_kind(source)
    assert decoded(stored) == decoded(source)


@pytest.mark.parametrize("name", ["jpeg", "jpeg-progressive"])
def test_a_jpeg_is_the_providers_file_plus_two_app1_segments(name):
    source = PROVIDER_FILES[name]()
    stored = embed(source)
    assert without_our_jpeg_segments(stored) == source
    markers = [marker for marker, _ in jpeg_segments(stored)]
    assert markers[:3] == [0xE0, 0xE1, 0xE1]  # JFIF first, then ours, as libjpeg orders them
    payloads = [payload for marker, payload in jpeg_segments(stored) if marker == 0xE1]
    assert payloads[0].startswith(b"Exif\0\0MM\0*") and payloads[1].startswith(b"http://ns.adobe.com/xap/1.0/\0")


@pytest.mark.parametrize(
    ("name", "first", "alpha"),
    [("webp-lossy", b"VP8 ", 0), ("webp-lossless", b"VP8L", 0), ("webp-lossless-rgba", b"VP8L", 0x10)],
)
def test_a_simple_webp_becomes_extended_with_its_chunk_untouched(name, first, alpha):
    source = PROVIDER_FILES[name]()
    (original,) = riff_chunks(source)
    assert original[0] == first
    stored = embed(source)
    assert without_our_webp_chunks(stored) == source
    chunks = riff_chunks(stored)
    assert [fourcc for fourcc, _ in chunks] == [b"VP8X", first, b"EXIF", b"XMP "]
    assert chunks[1] == original
    vp8x = chunks[0][1]
    assert vp8x[0] == 0x08 | 0x04 | alpha  # EXIF, XMP and (lossless with transparency) alpha flags
    width = int.from_bytes(vp8x[4:7], "little") + 1
    height = int.from_bytes(vp8x[7:10], "little") + 1
    assert (width, height) == (96, 64)
    assert chunks[2][1].startswith(b"MM\0*")  # the TIFF itself, no "Exif\0\0", as libwebp expects


def test_an_existing_vp8x_keeps_its_chunks_and_gets_the_flags():
    source = PROVIDER_FILES["webp-lossy-rgba (VP8X)"]()
    before = riff_chunks(source)
    assert [c for c, _ in before] == [b"VP8X", b"ALPH", b"VP8 "]
    after = riff_chunks(embed(source))
    assert [c for c, _ in after] == [b"VP8X", b"ALPH", b"VP8 ", b"EXIF", b"XMP "]
    assert after[1:3] == before[1:3]
    assert after[0][1][0] == before[0][1][0] | 0x08 | 0x04 and after[0][1][1:] == before[0][1][1:]


def test_existing_exif_and_xmp_are_kept_and_ours_added():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "ProviderCam"
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2024:01:02 03:04:05"}
    theirs = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:source>provider</dc:source></rdf:Description>'
        b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )
    for fmt in ("JPEG", "WEBP"):
        source = encode(fmt, quality=80, exif=exif.tobytes(), xmp=theirs)
        stored = embed(source)
        assert decoded(stored) == decoded(source)
        with Image.open(io.BytesIO(stored)) as image:
            kept = image.getexif()
            assert kept[ExifTags.Base.Orientation] == 6 and kept[ExifTags.Base.Make] == "ProviderCam"
            sub = kept.get_ifd(ExifTags.IFD.Exif)
            assert sub[ExifTags.Base.DateTimeOriginal] == "2024:01:02 03:04:05"
            assert sub[ExifTags.Base.UserComment] == b"UNICODE\0" + PARAMETERS.encode("utf-16-be")
            assert b"<dc:source>provider</dc:source>" in image.info["xmp"]
        if fmt == "JPEG":  # one EXIF and one XMP segment, not two of each
            app1 = [p[:6] for m, p in jpeg_segments(stored) if m == 0xE1]
            assert app1 == [b"Exif\0\0", b"http:/"]
        else:
            assert [c for c, _ in riff_chunks(stored)].count(b"EXIF") == 1
        assert read_image_parameters(stored).generation_id == "gen123"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_existing_exif_is_replaced():
    source = encode("JPEG", exif=b"Exif\0\0II*\0\xff\xff\xff\x7f garbage")
    stored = embed(source)
    assert decoded(stored) == decoded(source)
    assert a1111_reads(stored) == PARAMETERS


# -- A1111 compatibility --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["webp-lossy", "webp-lossless", "jpeg"])
def test_a1111_reads_the_user_comment_we_write(name):
    assert a1111_reads(embed(PROVIDER_FILES[name]())) == PARAMETERS


def test_our_exif_entry_is_the_one_piexif_writes_for_a1111():
    # Same byte order, same tag, type UNDEFINED (piexif reads a BYTE entry as a tuple of ints, and
    # A1111 then fails to decode it), same count and value as A1111's own file.
    ours = exif_with_user_comment(A1111_TEXT)
    assert ours[:4] == A1111_EXIF[6:10] == b"MM\0*"
    assert exif_ifd_entries(ours) == exif_ifd_entries(A1111_EXIF)
    assert exif_ifd_entries(ours)[ExifTags.Base.UserComment][0] == 7


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a_dropped_a1111_file_restores(fmt, tmp_path):
    path = tmp_path / f"from-a1111.{fmt.lower()}"
    picture((64, 48)).save(path, format=fmt, exif=A1111_EXIF)
    restored = read_image_parameters(path)
    assert restored.source == "a1111"
    assert (restored.prompt, restored.negative_prompt) == ("a castle on a hill", "people")
    assert (restored.steps, restored.sampler, restored.scheduler, restored.guidance) == (33, "Euler a", "Euler a", 5.5)
    assert (restored.seed, restored.width, restored.height, restored.model) == (4242, 1024, 768, "Kolors")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"UNICODE\0" + "猫 cat".encode("utf-16-be"), "猫 cat"),
        (b"UNICODE\0" + "a cat, Steps: 20".encode("utf-16-le"), "a cat, Steps: 20"),  # some tools
        (b"UNICODE\0\xff\xfe" + "猫".encode("utf-16-le"), "猫"),
        (b"ASCII\0\0\0a cat\0", "a cat"),
        (b"\0" * 8 + b"a cat", "a cat"),  # undefined: A1111 reads the bytes as UTF-8
        ("a cat", "a cat"),
    ],
)
def test_user_comment_encodings(raw, text):
    assert decode_user_comment(raw) == text


# -- limits and fallbacks ---------------------------------------------------------------------------------


def test_a_jpeg_whose_json_is_over_64_kb_keeps_the_a1111_text_alone():
    request = GenerationRequest(prompt="猫" * 25_000, width=96, height=64, seed=5)
    parameters = a1111_parameters(request, seed=5, model="Kwai-Kolors/Kolors")
    json_text = playground_metadata(
        request, seed=5, image_index=0, backend_id="segmind", backend_label="Segmind",
        model="Kwai-Kolors/Kolors", generation_id="g", created_at=1.0,
    )
    assert 2 * len(parameters) < 65_000 < len(json_text.encode())
    source = PROVIDER_FILES["jpeg"]()
    assert metadata_problem(source, parameters) is None
    stored = embed(source, json_text, parameters)
    assert without_our_jpeg_segments(stored) == source
    assert [p[:6] for m, p in jpeg_segments(stored) if m == 0xE1] == [b"Exif\0\0"]  # no XMP
    restored = read_image_parameters(stored)
    assert restored.source == "a1111" and restored.prompt == request.prompt and restored.seed == 5
    # WebP has no such limit: both go in.
    webp = embed(PROVIDER_FILES["webp-lossy"](), json_text, parameters)
    assert read_image_parameters(webp).source == JSON_KEY


def test_a_jpeg_whose_a1111_text_is_over_64_kb_is_refused():
    parameters = "a" * 40_000 + "\nSteps: 20, Seed: 1"
    source = PROVIDER_FILES["jpeg"]()
    problem = metadata_problem(source, parameters)
    assert problem and "65533" in problem
    with pytest.raises(ValueError, match="JPEG segment"):
        embed(source, "", parameters)
    assert metadata_problem(PROVIDER_FILES["webp-lossy"](), parameters) is None


def webp_with_trailing_bytes() -> bytes:
    return PROVIDER_FILES["webp-lossy"]() + b"\0\0\0\0"


def webp_simple_plus_unknown_chunk() -> bytes:
    data = PROVIDER_FILES["webp-lossy"]() + b"ABCD\x02\0\0\0hi"
    return data[:4] + struct.pack("<I", len(data) - 8) + data[8:]


@pytest.mark.parametrize(
    "odd",
    [
        lambda: PROVIDER_FILES["webp-lossy"]()[:-10],  # truncated
        webp_with_trailing_bytes,
        webp_simple_plus_unknown_chunk,
        lambda: b"RIFF\x04\0\0\0WEBP",  # no chunk at all
        lambda: PROVIDER_FILES["jpeg"]()[:200],  # header cut before SOS
        lambda: b"\xff\xd8\xff\xd9",
        lambda: b"GIF89a",
    ],
)
def test_odd_containers_are_refused_with_value_error(odd):
    data = odd()
    assert metadata_problem(data, PARAMETERS)
    with pytest.raises(ValueError):
        embed(data)


@settings(max_examples=hypothesis_examples(300), deadline=None)
@given(st.sampled_from([b"\xff\xd8\xff", b"RIFF\x20\0\0\0WEBPVP8 ", b"RIFF\x20\0\0\0WEBPVP8X"]), st.binary(max_size=200))
def test_random_bytes_only_ever_raise_value_error(head, tail):
    try:
        embed(head + tail)
    except ValueError:
        pass
    read_image_parameters(head + tail)  # must not raise


# -- reading back ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["png", *PROVIDER_FILES])
def test_round_trip_gives_the_full_request_back(name):
    source = encode("PNG") if name == "png" else PROVIDER_FILES[name]()
    restored = read_image_parameters(embed(source))
    assert restored.source == JSON_KEY
    assert (restored.backend_id, restored.generation_id, restored.image_index) == ("segmind", "gen123", 1)
    assert restored_request(restored) == GenerationRequest(
        **{**REQUEST.to_dict(), "seed": SEED, "n": 1}
    )


@pytest.mark.parametrize("name", ["webp-lossy", "jpeg"])
def test_without_json_the_a1111_text_is_read(name):
    restored = read_image_parameters(embed(PROVIDER_FILES[name](), ""))
    assert restored.source == "a1111"
    assert (restored.prompt, restored.seed, restored.steps) == (REQUEST.prompt, SEED, 25)


def test_reading_never_decodes_pixels(monkeypatch):
    def refuse(self):
        raise AssertionError("pixel data was loaded")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", refuse)
    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "load", refuse)
    for name in ("jpeg", "webp-lossy"):
        assert read_image_parameters(embed(PROVIDER_FILES[name]())).seed == SEED


def test_the_xmp_property_is_read_as_element_or_attribute_and_dtds_are_refused():
    element = xmp_packet(PLAYGROUND_JSON)
    assert f'xmlns:kolors="{XMP_NAMESPACE}"'.encode() in element
    attribute = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:k="{XMP_NAMESPACE}" k:{JSON_KEY}="'
        + PLAYGROUND_JSON.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        + '"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    doctype = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + element[element.index(b"<x:xmpmeta") :]
    for packet, expected in ((element, JSON_KEY), (attribute, JSON_KEY), (doctype, None)):
        out = io.BytesIO()
        picture((16, 16)).save(out, format="WEBP", xmp=packet)
        restored = read_image_parameters(out.getvalue())
        assert (restored.source if restored else None) == expected


def test_json_with_characters_xml_cannot_hold_is_escaped():
    text = json.dumps({"version": 1, "request": {"prompt": "odd \uffff end", "seed": 3}}, ensure_ascii=False)
    packet = xmp_packet(text)
    assert "\uffff".encode() not in packet and b"\\uffff" in packet
    restored = read_image_parameters(embed(PROVIDER_FILES["webp-lossy"](), text))
    assert restored.prompt == "odd \uffff end"


def test_image_kinds():
    assert image_kind(encode("PNG")) is PNG and PNG.extension == ".png"
    assert image_kind(PROVIDER_FILES["jpeg"]()) is JPEG and JPEG.mime_type == "image/jpeg"
    assert image_kind(PROVIDER_FILES["webp-lossy"]()) is WEBP and WEBP.extension == ".webp"
    assert image_kind(b"GIF89a") is None
