"""Images, documents and audio: records, prompts, tool results and extraction, on both dialects,
against a real loopback server that checks every request against the wire schemas."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    Audio,
    ConfigurationError,
    Document,
    Extractor,
    Image,
    ImagePart,
    TextPart,
    ToolMessage,
    UserMessage,
    messages_from_json,
    messages_to_json,
)
from agentkit._media import attachment, sniff
from agentkit._observe import Timeline
from agentkit.models import ModelProfile
from agentkit.testing import MockChatServer, Reply, make_pdf, make_png, make_wav
from tests.loopback import chat, closes_models, made, responses  # noqa: F401 (closes them)
from tests.spec import DEFAULT_MODEL, openai_validator, request_problems

pytestmark = pytest.mark.anyio

PNG, PDF, WAV = make_png(), make_pdf("Invoice INV-7", "Total 42.50 EUR"), make_wav()


def _chat(server: MockChatServer, **options: Any) -> Any:
    options.setdefault("model", DEFAULT_MODEL)  # AI/ML API's schema names its one model
    options.setdefault("max_retries", 2)
    return chat(server, **options)


_responses = responses


def _checked(*script: Any) -> MockChatServer:
    return MockChatServer(list(script), validate=request_problems)


# -- the records --------------------------------------------------------------------------


async def test_the_media_type_is_read_from_the_content_not_the_name(tmp_path: Path) -> None:
    lying = tmp_path / "photo.png"
    lying.write_bytes(PDF)
    with pytest.raises(ConfigurationError, match=r"photo\.png.*application/pdf.*Document"):
        Image.from_path(lying)
    assert Document.from_path(lying).media_type == "application/pdf"
    assert sniff(PNG) == "image/png"
    assert sniff(make_wav()) == "audio/wav"
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"ID3\x04") == "audio/mpeg"
    assert sniff(b"hello") is None
    with pytest.raises(ConfigurationError, match="no format models take"):
        Image.from_bytes(b"just text")


async def test_a_file_over_its_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "scan.pdf"
    with big.open("wb") as handle:  # sparse: 40 MB that take no disk and would take RAM
        handle.write(PDF[:16])
        handle.truncate(40 * 1024 * 1024)
    with pytest.raises(ConfigurationError, match=r"40\.0 MB, over the 32 MB limit.*max_bytes"):
        Document.from_path(big)
    small = tmp_path / "small.png"
    small.write_bytes(PNG)
    with pytest.raises(ConfigurationError, match="over the"):
        Image.from_path(small, max_bytes=10)
    with pytest.raises(ConfigurationError, match="cannot read"):
        Image.from_path(tmp_path / "missing.png")
    with pytest.raises(ConfigurationError, match="not a regular file"):
        Image.from_path(tmp_path)


async def test_a_part_holds_its_content_once_and_never_shows_it() -> None:
    image = Image.from_bytes(PNG, filename="dot.png", detail="low")
    assert base64.b64decode(image.data or "") == PNG
    assert image.size == len(PNG)
    assert "dot.png" in image.describe()
    assert image.data not in image.describe()
    assert not any(isinstance(v, bytes) for v in image.__dict__.values())


async def test_urls_must_be_http_and_exactly_one_source_is_given() -> None:
    assert Image.from_url("https://example.com/cat.jpg").media_type == "image/jpeg"
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "ftp://host/a.png"):
        with pytest.raises(ValueError, match="http or https"):
            Image.from_url(bad)
    with pytest.raises(ValueError, match="exactly one"):
        Image(media_type="image/png")
    with pytest.raises(ValueError, match="exactly one"):
        Image(media_type="image/png", url="https://a/b.png", file_id="file-1")


async def test_attachment_picks_the_kind(tmp_path: Path) -> None:
    for name, content, kind in (("a", PNG, Image), ("b", PDF, Document), ("c", WAV, Audio)):
        path = tmp_path / name  # no suffix: the content decides
        path.write_bytes(content)
        assert isinstance(attachment(path), kind)
    assert isinstance(attachment("https://example.com/report.pdf"), Document)
    with pytest.raises(ConfigurationError, match="does not say"):
        attachment("https://example.com/download?id=3")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ConfigurationError, match="not an image"):
        attachment(notes)


async def test_parts_round_trip_through_saved_messages() -> None:
    messages = [
        UserMessage(
            content=(TextPart(text="see"), Image.from_bytes(PNG), Document.from_bytes(PDF))
        ),
        ToolMessage(tool_call_id="c1", content="[shot]", parts=(Image.from_bytes(PNG),)),
        ToolMessage(tool_call_id="c2", content="plain"),
    ]
    saved = messages_to_json(messages)
    assert messages_from_json(saved) == messages
    assert b'"parts"' not in messages_to_json(messages[2:])  # old transcripts stay as they were


# -- prompts ------------------------------------------------------------------------------


async def test_an_agent_describes_an_image_on_chat_completions() -> None:
    async with _checked(Reply.text("A red square.")) as server:
        agent = Agent(_chat(server))
        result = await agent.run(["Describe this", Image.from_bytes(PNG, detail="low")])
    assert result.output == "A red square."
    assert server.validation_errors == []
    content = server.requests[0].messages[-1]["content"]
    assert content[0] == {"type": "text", "text": "Describe this"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert content[1]["image_url"]["detail"] == "low"


async def test_a_single_part_is_a_prompt_and_a_url_goes_as_a_url() -> None:
    async with _checked(Reply.text("ok"), Reply.text("ok")) as server:
        agent = Agent(_chat(server))
        await agent.run(Image.from_url("https://example.com/cat.png"))
        await agent.run(Image.from_bytes(PNG))
    first = server.requests[0].messages[-1]["content"]
    assert first == [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    assert server.validation_errors == []


async def test_documents_and_audio_on_chat_completions() -> None:
    async with _checked(Reply.text("ok")) as server:
        await Agent(_chat(server)).run(["Read", Document.from_bytes(PDF, filename="inv.pdf")])
    assert server.validation_errors == []
    assert server.requests[0].messages[-1]["content"][1] == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
                 "filename": "inv.pdf"},
    }  # fmt: skip

    def openai_only(body: Any) -> list[str]:  # AI/ML API's schema has no input_audio
        return [e.message for e in openai_validator().iter_errors(body)]

    async with MockChatServer([Reply.text("ok")], validate=openai_only) as server:
        await Agent(_chat(server, model="gpt-4o-audio-preview")).run(
            ["Listen", Audio.from_bytes(WAV)]
        )
    part = server.requests[0].messages[-1]["content"][1]
    assert part["input_audio"]["format"] == "wav"
    assert base64.b64decode(part["input_audio"]["data"]) == WAV
    assert server.validation_errors == []


async def test_the_responses_dialect_sends_input_image_and_input_file() -> None:
    async with _checked(Reply.text("ok")) as server:
        agent = Agent(_responses(server))
        await agent.run(
            [
                "Read",
                Image.from_bytes(PNG),
                Document.from_bytes(PDF, filename="inv.pdf"),
                Document.from_url("https://example.com/terms.pdf"),
                Image.from_file_id("file-abc"),
            ]
        )
    content = server.requests[0].body["input"][-1]["content"]
    assert [p["type"] for p in content] == [
        "input_text", "input_image", "input_file", "input_file", "input_image"
    ]  # fmt: skip
    assert content[1]["image_url"].startswith("data:image/png;base64,")
    assert content[2]["filename"] == "inv.pdf"
    assert content[3] == {"type": "input_file", "file_url": "https://example.com/terms.pdf"}
    assert content[4]["file_id"] == "file-abc"
    assert server.validation_errors == []


async def test_a_part_the_model_cannot_take_is_refused_before_any_request() -> None:
    async with MockChatServer() as server:
        aimlapi = _chat(server, profile=ModelProfile(media=frozenset({"image", "document"})))
        with pytest.raises(ConfigurationError, match=r"gpt-5-2-chat-latest does not take a audio"):
            await Agent(aimlapi).run(["Listen", Audio.from_bytes(WAV)])
        with pytest.raises(ConfigurationError, match="takes no a document by URL"):
            await Agent(_chat(server)).run(Document.from_url("https://example.com/a.pdf"))
        with pytest.raises(ConfigurationError, match="Responses, which takes no audio"):
            await Agent(_responses(server)).run(Audio.from_bytes(WAV))
        with pytest.raises(ConfigurationError, match="image by file id"):
            await Agent(_chat(server)).run(Image.from_file_id("file-1"))
        assert server.requests == []


async def test_the_default_provider_takes_images_and_pdfs_but_not_audio() -> None:
    profile = Agent("aimlapi:openai/gpt-5-2-chat-latest").profile
    assert profile.media == frozenset({"image", "document"})
    assert Agent("ollama:llava").profile.media == frozenset({"image"})


async def test_a_prompt_mixing_messages_and_parts_is_refused() -> None:
    agent = Agent(_chat_nowhere())
    with pytest.raises(ConfigurationError, match="not both"):
        await agent.run([UserMessage(content="hi"), Image.from_bytes(PNG)])


def _chat_nowhere() -> Any:
    from agentkit import ChatModel

    return made(ChatModel(base_url="http://127.0.0.1:9/v1", api_key="k", model="m"))


# -- tool results -------------------------------------------------------------------------


def screenshot(page: str) -> list[Any]:
    """Take a screenshot of a page.

    Args:
        page: Which page.
    """
    return [f"the {page} page:", Image.from_bytes(PNG, filename=f"{page}.png")]


async def test_a_tool_returning_a_screenshot_on_chat_completions() -> None:
    script = [Reply.tool_calls(("screenshot", {"page": "home"})), Reply.text("It is red.")]
    async with _checked(*script) as server:
        result = await Agent(_chat(server), tools=[screenshot]).run("What does home look like?")
    assert result.output == "It is red."
    sent = server.requests[1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[2]["content"] == "the home page:\n[image (image/png, 0.1 KB, home.png) attached]"
    assert sent[3]["content"][0]["text"] == "The result of tool call call_1 attached:"
    assert sent[3]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert server.validation_errors == []
    stored = result.messages[2]
    assert isinstance(stored, ToolMessage)
    assert stored.parts[0].filename == "home.png"


async def test_media_of_parallel_calls_follow_all_their_tool_messages() -> None:
    calls = Reply.tool_calls(("screenshot", {"page": "a"}), ("screenshot", {"page": "b"}))
    async with _checked(calls, Reply.text("done")) as server:
        await Agent(_chat(server), tools=[screenshot]).run("both")
    roles = [m["role"] for m in server.requests[1].messages]
    assert roles == ["user", "assistant", "tool", "tool", "user"]  # no user between tool messages
    texts = [p["text"] for p in server.requests[1].messages[-1]["content"] if p["type"] == "text"]
    assert texts == [
        "The result of tool call call_1 attached:", "The result of tool call call_2 attached:"
    ]  # fmt: skip
    assert server.validation_errors == []


async def test_a_tool_returning_a_screenshot_on_responses() -> None:
    script = [Reply.tool_calls(("screenshot", {"page": "home"})), Reply.text("It is red.")]
    async with _checked(*script) as server:
        await Agent(_responses(server), tools=[screenshot]).run("Look")
    output = next(
        item for item in server.requests[1].body["input"]
        if item.get("type") == "function_call_output"
    )["output"]  # fmt: skip
    assert [p["type"] for p in output] == ["input_text", "input_image"]
    assert server.validation_errors == []


# -- extraction ---------------------------------------------------------------------------


class Invoice(BaseModel):
    number: str
    total: float
    currency: str


async def test_extraction_reads_a_generated_pdf_invoice(tmp_path: Path) -> None:
    path = tmp_path / "inv.pdf"
    path.write_bytes(PDF)
    answer = Reply.tool_calls(("Invoice", {"number": "INV-7", "total": 42.5, "currency": "EUR"}))
    async with _checked(answer) as server:
        extractor = Extractor(Invoice, model=_chat(server), mode="tool")
        invoice = await extractor.extract(Document.from_path(path))
    assert invoice == Invoice(number="INV-7", total=42.5, currency="EUR")
    file_part = server.requests[0].messages[-1]["content"][0]
    assert file_part["file"]["filename"] == "inv.pdf"
    assert server.validation_errors == []


async def test_streamed_extraction_from_an_image_and_text() -> None:
    answer = Reply.tool_calls(("Invoice", {"number": "A1", "total": 1.0, "currency": "USD"}))
    async with _checked(answer) as server:
        extractor = Extractor(Invoice, model=_chat(server), mode="tool")
        seen = [value async for value in extractor.stream(["The receipt:", Image.from_bytes(PNG)])]
    assert seen[-1] == Invoice(number="A1", total=1.0, currency="USD")
    assert server.requests[0].messages[-1]["content"][1]["type"] == "image_url"


# -- what is recorded ---------------------------------------------------------------------


async def test_timelines_record_large_parts_by_kind_and_size_never_their_content(
    tmp_path: Path,
) -> None:
    large = PNG + os.urandom(60 * 1024)  # over the thumbnail size
    script = [Reply.tool_calls(("screenshot", {"page": "home"})), Reply.text("ok")]
    async with _checked(*script) as server:
        agent = Agent(
            _chat(server), tools=[screenshot], instrument=[Timeline(tmp_path / "t.jsonl")]
        )
        await agent.run(["Look", Image.from_bytes(large, filename="in.png")])
    recorded = (tmp_path / "t.jsonl").read_text()
    assert base64.b64encode(large).decode()[400:460] not in recorded  # past the PNG header
    assert "image (image/png, 60.1 KB, in.png)" in recorded
    assert "home.png" in recorded


async def test_old_image_parts_still_travel_as_before() -> None:
    async with _checked(Reply.text("ok")) as server:
        part = ImagePart(url="https://example.com/a.png", detail="high")
        await Agent(_chat(server)).run([UserMessage(content=(TextPart(text="x"), part))])
    assert server.requests[0].messages[-1]["content"][1] == {
        "type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}
    }  # fmt: skip


# -- batch --------------------------------------------------------------------------------


async def test_a_batch_extracts_from_attached_files_and_urls(tmp_path: Path) -> None:
    from agentkit.batch import run_batch

    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "inv1.pdf").write_bytes(PDF)
    (folder / "receipt.png").write_bytes(PNG)
    lines = [
        {"id": "a", "attachments": ["inv1.pdf"]},
        {"id": "b", "text": "The receipt:", "attachments": ["receipt.png"]},
        {"id": "c", "attachments": ["https://example.com/scan.png"]},
    ]
    source = folder / "items.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    answer = Reply.tool_calls(("Invoice", {"number": "X", "total": 1.0, "currency": "EUR"}))
    async with MockChatServer(responder=lambda request: answer) as server:
        extractor = Extractor(Invoice, model=_chat(server), mode="tool")
        summary = await run_batch(extractor, source, journal=tmp_path / "j.sqlite3")
    assert (summary.done, summary.failed) == (3, 0)
    sent = sorted(tuple(p["type"] for p in r.messages[-1]["content"]) for r in server.requests)
    assert sent == [("file",), ("image_url",), ("text", "image_url")]
    by_url = [r for r in server.requests if "https://example.com/scan.png" in json.dumps(r.body)]
    assert len(by_url) == 1  # sent as the URL, not fetched here


async def test_batch_paths_never_lead_out_of_the_attachments_folder(tmp_path: Path) -> None:
    from agentkit.batch import run_batch

    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "link.png").symlink_to(secret)
    lines = [
        {"id": "dotdot", "attachments": ["../secret.png"]},
        {"id": "absolute", "attachments": [str(secret)]},
        {"id": "link", "attachments": ["link.png"]},
        {"id": "not-a-list", "attachments": "x.png"},
        {"id": "missing", "attachments": ["gone.png"]},
    ]
    source = folder / "items.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    async with MockChatServer(responder=lambda request: Reply.text("{}")) as server:
        summary = await run_batch(Agent(_chat(server)), source, journal=tmp_path / "j.sqlite3")
        assert server.requests == []  # nothing was sent for any of them
    assert summary.failed == 5
    out = tmp_path / "out.jsonl"
    from agentkit.batch import Journal

    journal = Journal.open_existing(tmp_path / "j.sqlite3")
    journal.export(out)
    journal.close()
    errors = {row["id"]: row["error"] for row in map(json.loads, out.read_text().splitlines())}
    assert "leads out of" in errors["dotdot"]
    assert "absolute path" in errors["absolute"]
    assert "leads out of" in errors["link"]
    assert "must be a list" in errors["not-a-list"]
    assert "gone.png" in errors["missing"]


async def test_a_resumed_batch_runs_again_an_item_whose_attachment_changed(
    tmp_path: Path,
) -> None:
    from agentkit.batch import run_batch

    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "b.png").write_bytes(PNG)
    source = tmp_path / "items.jsonl"
    source.write_text(
        json.dumps({"id": "a", "prompt": "describe", "attachments": ["a.png"]}) + "\n"
        + json.dumps({"id": "b", "prompt": "describe", "attachments": ["b.png"]}) + "\n"
    )  # fmt: skip
    async with MockChatServer(responder=lambda request: Reply.text("seen")) as server:
        agent = Agent(_chat(server))
        first = await run_batch(agent, source, journal=tmp_path / "j.sqlite3")
        assert first.done == 2
        (tmp_path / "b.png").write_bytes(make_png(rgb=(0, 0, 255)))  # b changed
        again = await run_batch(agent, source, journal=tmp_path / "j.sqlite3", resume=True)
    assert again.processed_this_run == 1
    assert len(server.requests) == 3
    last = server.requests[-1].messages[-1]["content"][1]["image_url"]["url"]
    assert base64.b64decode(last.split(",", 1)[1]) == make_png(rgb=(0, 0, 255))


async def test_a_large_attachment_arrives_whole(tmp_path: Path) -> None:
    content = make_png() + os.urandom(3 * 1024 * 1024)  # written in slices, not one copy
    path = tmp_path / "big.png"
    path.write_bytes(content)
    async with MockChatServer([Reply.text("big")]) as server:
        result = await Agent(_chat(server)).run(["Look", Image.from_path(path)])
    assert result.output == "big"
    url = server.requests[0].messages[-1]["content"][1]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == content


async def test_a_file_that_grows_past_its_limit_while_read_is_refused(tmp_path: Path) -> None:
    from agentkit import _media

    path = tmp_path / "growing.png"
    path.write_bytes(PNG + b"\0" * 100)
    with path.open("rb") as handle, pytest.raises(ConfigurationError, match="grew past"):
        _media._base64_of(handle, limit=50, name=str(path))


async def test_large_attachments_arrive_whole_on_responses_and_as_audio() -> None:
    picture = make_png() + os.urandom(200 * 1024)  # over the size written beside the JSON
    sound = make_wav(seconds=20.0)
    async with MockChatServer([Reply.text("a"), Reply.text("b")]) as server:
        await Agent(_responses(server)).run(["Look", Image.from_bytes(picture)])
        await Agent(_chat(server, model="gpt-4o-audio")).run(["Hear", Audio.from_bytes(sound)])
    image = server.requests[0].body["input"][-1]["content"][1]["image_url"]
    assert base64.b64decode(image.split(",", 1)[1]) == picture
    audio = server.requests[1].messages[-1]["content"][1]["input_audio"]["data"]
    assert base64.b64decode(audio) == sound


async def test_a_session_stores_a_large_attachment_once(tmp_path: Path) -> None:
    import sqlite3

    from agentkit import SQLiteSession

    picture = make_png() + os.urandom(300 * 1024)
    image = Image.from_bytes(picture, filename="big.png")
    store = tmp_path / "sessions.sqlite3"
    async with MockChatServer([Reply.text("one"), Reply.text("two")]) as server:
        agent = Agent(_chat(server))
        session = SQLiteSession(store, "pictures")
        await agent.run(["First look", image], session=session)
        await agent.run(["Again", image], session=session)  # the same picture, twice
    with sqlite3.connect(store) as db:
        (blobs,) = db.execute("SELECT COUNT(*) FROM blobs").fetchone()
        (inline,) = db.execute(
            "SELECT COUNT(*) FROM runs WHERE instr(messages, ?) > 0", (image.data[:64],)
        ).fetchone()
    assert blobs == 1  # stored once, by its hash
    assert inline == 0  # not copied into the messages
    again = SQLiteSession(store, "pictures").messages()
    kept = [p for m in again if isinstance(m, UserMessage) and not isinstance(m.content, str)
            for p in m.content if isinstance(p, Image)]  # fmt: skip
    assert [base64.b64decode(p.data or "") for p in kept] == [picture, picture]


async def test_the_timeline_page_shows_small_images_as_thumbnails(tmp_path: Path) -> None:
    from agentkit._observe._trace_view import read_events, render

    trace = tmp_path / "run.jsonl"
    async with MockChatServer([Reply.text("red")]) as server:
        agent = Agent(_chat(server), instrument=[Timeline(trace)])
        await agent.run(["Look", Image.from_bytes(PNG, filename="dot.png"),
                         Document.from_bytes(PDF, filename="inv.pdf")])  # fmt: skip
    page = render(read_events(trace.read_text().splitlines()))
    assert '<img class="thumb" alt="attached image" src="data:image/png;base64,iVBOR' in page
    assert "inv.pdf" in page
    assert base64.b64encode(PDF).decode()[:40] not in trace.read_text()  # a PDF is named only


async def test_a_hostile_trace_cannot_put_anything_but_a_picture_in_the_page() -> None:
    from agentkit._observe._trace_view import render

    hostile = [
        {"event": "run_started", "run": "r", "t": 0},
        {"event": "request_started", "run": "r", "t": 0, "request": 1, "messages": [
            {"role": "user", "content": [
                {"type": "image", "attached": "x", "thumbnail": "javascript:alert(1)"},
                {"type": "image", "attached": "y", "thumbnail": "data:image/svg+xml;base64,PHN2Zz4="},
                {"type": "image", "attached": "z", "thumbnail": 'data:image/png;base64,AA" onerror="x'},
            ]},
        ], "parts": 7},
    ]  # fmt: skip
    page = render(hostile)
    assert "<img" not in page
    assert "javascript:" not in page.split("<script", 1)[0]


async def test_a_profile_limit_on_attachment_size_refuses_before_sending() -> None:
    async with MockChatServer() as server:
        small = _chat(server, profile=ModelProfile(max_media_bytes=50))
        with pytest.raises(ConfigurationError, match=r"up to 50 bytes.*max_media_bytes"):
            await Agent(small).run(["Look", Image.from_bytes(PNG)])
        assert server.requests == []
