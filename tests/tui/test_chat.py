"""The chat screen against a real gateway in front of the fake Bedrock."""

from __future__ import annotations

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, Label, Markdown, ProgressBar, Select, Static, TextArea

from llmgw.tui.app import GatewayApp
from llmgw.tui.format import usd
from llmgw.tui.messages import ChatAnswered, ServerRefused, SignedIn
from llmgw.tui.screens.chat import ChatScreen
from llmgw.tui.screens.chat_settings import ChatSettingsModal
from llmgw.tui.widgets.chat_message import ChatMessage
from llmgw.tui.widgets.prompt_area import PromptArea
from llmgw.tui.widgets.quota_bar import QuotaBar
from llmgw.v1 import policy_service_pb2, policy_service_pb2_grpc, quota_pb2, quota_service_pb2, quota_service_pb2_grpc
from tests.model_ids import HAIKU, SONNET
from tests.support import GatewayThread, bearer
from tests.tui.conftest import UserFactory, of_type, signed_in_app, until


async def open_chat(app: GatewayApp, pilot: Pilot[None]) -> ChatScreen:
    """Wait for the chat screen with its models loaded, and pick Claude 3 Haiku."""
    await until(pilot, lambda: isinstance(app.screen, ChatScreen) and bool(app.screen.query("#model")), "the chat")
    screen = app.screen
    assert isinstance(screen, ChatScreen)
    select = screen.query_one("#model", Select)
    await until(pilot, lambda: select.value != Select.NULL, "the models")
    select.value = HAIKU
    return screen


async def ask(screen: ChatScreen, pilot: Pilot[None], prompt: str) -> None:
    """Type a prompt and send it."""
    screen.query_one("#prompt", PromptArea).text = prompt
    screen.query_one("#prompt", PromptArea).focus()
    await pilot.press("enter")


async def test_chat_streams_answer_and_shows_cost(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A prompt gets a streamed Markdown answer, then its tokens and cost under it."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("chat"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_chat(app, pilot)
        await ask(screen, pilot, "Hello there [[tokens:6]]")
        await until(pilot, lambda: bool(of_type(messages, ChatAnswered)), "the answer")
        answered = of_type(messages, ChatAnswered)[0]
        assert isinstance(answered, ChatAnswered)
        assert answered.model == HAIKU
        assert answered.completion_tokens == 6
        assert not answered.stopped
        bubbles = list(screen.query(ChatMessage))
        assert [bubble.role for bubble in bubbles] == ["user", "assistant"]
        assert bubbles[1].query_one(Markdown).source == answered.text
        note = str(bubbles[1].query_one(".chat-message--usage", Label).content)
        assert note == f"{answered.prompt_tokens} in · 6 out · {usd(answered.cost_usd)}"
        assert of_type(messages, SignedIn)


async def test_chat_keeps_the_conversation(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A second prompt is sent with the first exchange, so the model sees more input tokens."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("turns"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_chat(app, pilot)
        await ask(screen, pilot, "one [[tokens:4]]")
        await until(pilot, lambda: len(of_type(messages, ChatAnswered)) == 1, "the first answer")
        await ask(screen, pilot, "one [[tokens:4]]")
        await until(pilot, lambda: len(of_type(messages, ChatAnswered)) == 2, "the second answer")
        first, second = of_type(messages, ChatAnswered)
        assert isinstance(first, ChatAnswered)
        assert isinstance(second, ChatAnswered)
        assert second.prompt_tokens > first.prompt_tokens
        assert [bubble.role for bubble in screen.query(ChatMessage)] == ["user", "assistant"] * 2


async def test_stop_ends_a_running_answer(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Esc stops a slow answer; the screen marks it stopped and accepts the next prompt."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("stop"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_chat(app, pilot)
        await ask(screen, pilot, "go slowly [[tokens:400]] [[token_delay_ms:50]]")
        bubble = list(screen.query(ChatMessage))[-1]
        await until(pilot, lambda: bool(bubble.query_one(Markdown).source), "the first tokens")
        await pilot.press("escape")
        await until(pilot, lambda: bool(of_type(messages, ChatAnswered)), "the stop")
        stopped = of_type(messages, ChatAnswered)[0]
        assert isinstance(stopped, ChatAnswered)
        assert stopped.stopped
        assert stopped.text
        note = bubble.query_one(".chat-message--usage", Label)
        await until(pilot, lambda: "charged" in str(note.content), "the stopped answer's charge")
        assert str(note.content).startswith("stopped · ")
        assert " out · $" in str(note.content)
        await ask(screen, pilot, "again [[tokens:3]]")
        await until(pilot, lambda: len(of_type(messages, ChatAnswered)) == 2, "the next answer")


async def test_quota_bar_and_refusal_when_exceeded(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """With a zero quota the bar shows it exceeded and a prompt is refused as a notification."""
    user = fresh_user("broke")
    app = signed_in_app(gateway, user)
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="0"),
            metadata=bearer(gateway.create_key("root", f"admin-for-{user}")),
        )
    messages: list[Message] = []
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_chat(app, pilot)
        bar = screen.query_one(QuotaBar)
        await until(pilot, lambda: bar.has_class("-exceeded"), "the exceeded quota bar")
        await ask(screen, pilot, "anything")
        await until(pilot, lambda: bool(of_type(messages, ServerRefused)), "the refusal")
        refused = of_type(messages, ServerRefused)[0]
        assert isinstance(refused, ServerRefused)
        assert refused.code == "RESOURCE_EXHAUSTED"
        assert refused.reason == "QUOTA_EXCEEDED"
        assert any(note.title == "Quota exceeded" for note in app._notifications)
        assert isinstance(app.screen, ChatScreen)
        note = str(list(screen.query(ChatMessage))[-1].query_one(".chat-message--usage", Label).content)
        assert note.count("Quota exceeded") == 1
        assert "T00:00:00" not in note
        assert " 00:00 UTC" in note


async def test_new_chat_during_a_stream_drops_the_old_answer(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Ctrl+N while an answer streams: the app keeps running and the new chat starts empty."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("newchat"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_chat(app, pilot)
        await ask(screen, pilot, "go slowly [[tokens:400]] [[token_delay_ms:30]]")
        bubble = list(screen.query(ChatMessage))[-1]
        await until(pilot, lambda: bool(bubble.query_one(Markdown).source), "the first tokens")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: bool(of_type(messages, ChatAnswered)), "the dropped answer")
        await pilot.pause(0.2)
        assert app.is_running
        assert not screen.query(ChatMessage)
        assert screen._conversation.turns == []
        await ask(screen, pilot, "fresh [[tokens:3]]")
        await until(pilot, lambda: len(of_type(messages, ChatAnswered)) == 2, "the new chat's answer")
        assert [turn.role for turn in screen._conversation.turns] == ["user", "assistant"]
        assert [bubble.role for bubble in screen.query(ChatMessage)] == ["user", "assistant"]


async def test_settings_prompt_history_copy_and_focus(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """A system prompt adds input tokens, max tokens caps the answer, Up recalls, copying says where it went."""
    messages: list[Message] = []
    app = signed_in_app(gateway, fresh_user("settings"))
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = await open_chat(app, pilot)
        await ask(screen, pilot, "plain [[tokens:20]]")
        await until(pilot, lambda: len(of_type(messages, ChatAnswered)) == 1, "the first answer")
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, ChatSettingsModal), "the settings")
        app.screen.query_one("#system", TextArea).text = "You are terse and answer in French always please"
        app.screen.query_one("#temperature", Input).value = "3"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ChatSettingsModal)
        assert "Temperature" in str(app.screen.query_one("#problem", Static).content)
        app.screen.query_one("#temperature", Input).value = "0.5"
        app.screen.query_one("#max-tokens", Input).value = "4"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat again")
        assert "temperature 0.5" in str(screen.query_one("#settings-line", Static).content)
        prompt = screen.query_one("#prompt", PromptArea)
        assert prompt.has_focus
        await pilot.press("up")
        assert prompt.text == "plain [[tokens:20]]"
        await pilot.press("enter")
        await until(pilot, lambda: len(of_type(messages, ChatAnswered)) == 2, "the second answer")
        first, second = of_type(messages, ChatAnswered)
        assert isinstance(first, ChatAnswered)
        assert isinstance(second, ChatAnswered)
        assert second.prompt_tokens > first.prompt_tokens
        assert second.completion_tokens == 4
        await pilot.press("ctrl+g")
        assert app.clipboard == second.text
        copied = list(app._notifications)[-1]
        assert copied.title == "Answer not copied"
        assert "system clipboard was not set" in copied.message
        await pilot.press("ctrl+o")
        await pilot.press("down", "enter")
        await pilot.pause()
        assert prompt.has_focus


async def test_model_picker_drops_revoked_models(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Access revoked while away from the chat: coming back, the picker offers only what is allowed."""
    user = fresh_user("revoked")
    app = signed_in_app(gateway, user)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(app, pilot)
        select = screen.query_one("#model", Select)
        assert len(select._options) > 2
        with gateway.channel() as channel:
            policy_service_pb2_grpc.PolicyServiceStub(channel).SetModelAccess(
                policy_service_pb2.SetModelAccessRequest(user=user, models=[SONNET]),
                metadata=bearer(gateway.create_key("root", f"admin-for-{user}")),
            )
        await pilot.press("f2")
        await pilot.press("f1")
        await until(pilot, lambda: select.value == SONNET, "the picker to follow the new access")
        assert [value for _, value in select._options if isinstance(value, str)] == [SONNET]


async def test_quota_bar_without_a_gateway_shows_no_bar(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """When the quota cannot be read, the bar says why and shows no (misleading) 0%."""
    app = signed_in_app(gateway, fresh_user("nobar"))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(app, pilot)
        bar = screen.query_one(QuotaBar)
        await until(pilot, lambda: "quota $" in str(bar.query_one(Label).content), "the quota")
        bar.unknown("gateway unavailable")
        await pilot.pause()
        assert not bar.query_one(ProgressBar).display
        assert str(bar.query_one(Label).content) == "quota: gateway unavailable"
