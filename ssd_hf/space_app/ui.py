"""SSD side by side: a Gradio Space comparing a base model with its simple-self-distilled version.

Tabs: Generate (one problem, every model streaming its answer with its own recommended decoding, the
extracted code, a button that runs the problem's tests in the project's sandbox), Tokens (one completion
coloured per token by each model's entropy or lock/fork label), Results (pass@1 / pass@5 by difficulty
with confidence intervals, and T_eval sweep curves, from results files or model cards).

Started by the Space's `app.py` (`python spaces_demo/app.py` in a checkout); models come from config.yaml
(see there). Pieces that are missing (a model that does not load, no sandbox, no results) are said so in
the UI, never faked. A model of the paper's toy world is judged by the toy's PASS rule, not as code.
"""

from __future__ import annotations

import html
import logging
import os
from dataclasses import dataclass

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # the Space never phones home

import gradio as gr  # noqa: E402

from .compare_models import ModelLoadError, ModelSlot, TokenStat, validate_decoding  # noqa: E402
from .demo_config import (  # noqa: E402
    ModelSpec,
    Problem,
    SpaceConfig,
    load_config,
    load_problems,
    recommended_decoding,
    resolve_model_path,
)
from .results_charts import (  # noqa: E402
    find_results,
    headline,
    headline_label,
    passk_figure,
    report_summaries,
    summary_markdown,
    sweep_figure,
    sweep_points,
)
from .sandbox_bridge import TOY_BUTTON, extract_code, run_tests, sandbox_status, toy_verdict  # noqa: E402

logger = logging.getLogger(__name__)

INTRO = """# SSD side by side
**Simple Self-Distillation** (Zhang et al., 2026): sample once from the frozen base model at a training
temperature, fine-tune on those raw samples, decode at a separately chosen temperature. Pick a problem,
press **Generate**, and compare the models; **Tokens** shows where each model is sure (locks) or
undecided (forks); **Results** shows measured pass@k with 95% confidence intervals."""
LABEL_COLOURS = {"lock": "#9ecae1", "fork": "#fdae6b", "other": "#f1f1f3"}


def _messages(question: str, starter_code: str) -> list[dict]:
    from ..prompts import build_messages, render_user_text
    from ..records import PromptOptions

    return build_messages(render_user_text(question, starter_code or None), PromptOptions())


def _entropy_colour(entropy: float, scale: float) -> str:
    """White (sure) to red (uncertain), on one scale shared by every pane so colours compare."""
    share = max(0.0, min(1.0, entropy / scale)) if scale > 0 else 0.0
    return f"rgba(220, 60, 40, {0.08 + 0.8 * share:.2f})"


def tokens_html(stats: list[TokenStat], colour_by: str, scale: float) -> str:
    """One span per token, coloured, with the numbers in its tooltip; a one-line summary on top."""
    if not stats:
        return "<p>Nothing to score: generate a completion first.</p>"
    spans = []
    for stat in stats:
        colour = _entropy_colour(stat.entropy, scale) if colour_by == "entropy" else LABEL_COLOURS[stat.label]
        tip = f"entropy {stat.entropy:.2f} nats, top-1 {stat.top1:.2f}, {stat.label}"
        spans.append(f'<span class="ssd-token" title="{tip}" style="background:{colour};'
                     f'border-right:1px solid #fff;border-radius:2px">{html.escape(stat.text)}</span>')
    counts = {label: sum(s.label == label for s in stats) for label in LABEL_COLOURS}
    mean = sum(s.entropy for s in stats) / len(stats)
    summary = (f"{len(stats)} tokens, mean entropy {mean:.2f} nats; locks {counts['lock']}, "
               f"forks {counts['fork']}, other {counts['other']}")
    if colour_by == "entropy":
        legend = (f'<span style="background:{_entropy_colour(0, 1)}">&nbsp;0 nats&nbsp;</span> to '
                  f'<span style="background:{_entropy_colour(1, 1)}">&nbsp;{scale:.1f} nats&nbsp;</span>')
    else:
        legend = " ".join(f'<span style="background:{colour}">&nbsp;{k}&nbsp;</span>' for k, colour in LABEL_COLOURS.items())
    return (f'<div class="ssd-token-summary">{summary}<br>{legend}</div>'
            f'<div class="ssd-tokens" style="white-space:pre-wrap;font-family:monospace;line-height:1.7;color:#111">'
            f"{''.join(spans)}</div>")


def display_path(path: str) -> str:
    """Hub ids and relative paths as given; an absolute folder by its last two parts (no machine paths on screen)."""
    if os.path.isabs(path):
        return os.path.join("…", *path.rstrip(os.sep).split(os.sep)[-2:])
    return path


@dataclass
class Pane:
    """One model's column on the Generate tab."""

    slot: ModelSlot
    temperature: gr.Number
    top_k: gr.Number
    top_p: gr.Number
    status: gr.Markdown
    output: gr.Textbox
    code: gr.Code
    test_button: gr.Button
    verdict: gr.Markdown


def _pane(index: int, slot: ModelSlot) -> Pane:
    """The pane's title, its recommended decoding (with where that came from), output, code and verdict."""
    spec = slot.spec
    found = find_results(spec)
    decoding = recommended_decoding(spec, headline(found), headline_label(spec, found))
    with gr.Column(elem_id=f"pane-{index}"):
        gr.Markdown(f"### {html.escape(spec.name)}\n`{display_path(spec.path)}`" + (f"  \n_{spec.note}_" if spec.note else ""))
        with gr.Row():
            temperature = gr.Number(decoding.temperature, label="T", min_width=70, minimum=0, step=0.05)
            top_k = gr.Number(decoding.top_k, label="top-k", min_width=70, minimum=0, precision=0)
            top_p = gr.Number(decoding.top_p, label="top-p", min_width=70, minimum=0.01, maximum=1, step=0.05)
        gr.Markdown(f"<small>decoding: {html.escape(decoding.source)}</small>", elem_id=f"decoding-{index}")
        status = gr.Markdown("", elem_id=f"status-{index}")
        output = gr.Textbox(label="completion (streaming)", lines=10, max_lines=20, elem_id=f"output-{index}",
                            interactive=False)
        code = gr.Code(language="python", label="extracted code (last ```python block; editable)", lines=4,
                       elem_id=f"code-{index}", interactive=True)
        test_button = gr.Button("Run the tests", elem_id=f"tests-btn-{index}")
        verdict = gr.Markdown("", elem_id=f"verdict-{index}")
    return Pane(slot, temperature, top_k, top_p, status, output, code, test_button, verdict)


def _finished(slot: ModelSlot, text: str) -> tuple[str, str]:
    """(status, code) once a completion is done: a toy answer is judged by the toy's rule, code is extracted."""
    if slot.is_toy:
        return f"**Done**: {toy_verdict(text)}", ""
    extracted = extract_code(text)
    note = "" if extracted else " (no ```python block: counts as wrong)"
    return f"**Done**, {len(text)} characters{note}", extracted or ""


def make_generate(slot: ModelSlot):
    """The Generate handler of one pane: streams (status, completion, code); errors stay in this pane."""

    def run(question_text, starter_code, temperature, top_k, top_p, max_new_tokens):
        problem_error = None if (question_text or "").strip() else "Type a problem or pick one first."
        error = problem_error or validate_decoding(temperature, top_k, top_p)
        if error:
            yield f"**Cannot generate:** {error}", "", ""
            return
        text = ""
        try:
            yield "Generating…", "", ""
            for text in slot.stream(_messages(question_text, starter_code), temperature, top_k, top_p, max_new_tokens):
                yield "Generating…", text, ""
        except ModelLoadError as failure:
            yield f"**Error:** {failure}", "", ""
            return
        except Exception as failure:  # noqa: BLE001 - the pane says it, the other panes go on
            logger.exception("generation failed in %s", slot.spec.name)
            yield f"**Error:** {slot.spec.name}: {failure}", text, ""
            return
        status, code = _finished(slot, text)
        yield status, text, code

    return run


def make_tests(slot: ModelSlot, by_title: dict[str, Problem]):
    """The pane's judge: the toy's PASS rule for a toy model, else the picked problem's tests in the sandbox."""

    def run(picked, question_text, code_text, completion):
        try:
            if slot.is_toy:
                return toy_verdict(completion)
        except ModelLoadError as failure:
            return f"**Error:** {failure}"
        problem = by_title.get(picked)
        if problem is None or problem.question.strip() != (question_text or "").strip():
            return "Only bundled problems carry tests: pick one from the list to run its tests."
        return run_tests(problem, code_text)

    return run


def _check_models(panes: list[Pane]) -> list:
    """On page load: every pane's status (ready, or why not); a toy pane's button says what it judges by, and
    its code box (a toy answer is not code) is hidden."""
    statuses, buttons, codes = [], [], []
    for pane in panes:
        try:
            pane.slot.load()
            statuses.append("ready")
            toy = pane.slot.is_toy
        except ModelLoadError as failure:
            statuses.append(f"**Error:** {failure}")
            toy = False
        buttons.append(gr.update(value=TOY_BUTTON) if toy else gr.update())
        codes.append(gr.update(visible=not toy))
    return statuses + buttons + codes


def _generate_tab(config: SpaceConfig, slots: list[ModelSlot], problems: list[Problem], demo: gr.Blocks):
    """Problem picker, Generate button and one pane per model, wired to their handlers; returns the panes and
    the problem inputs (the Tokens tab scores the same prompt)."""
    by_title = {p.title + (f" [{p.difficulty}]" if p.difficulty != "unknown" else ""): p for p in problems}
    first = problems[0] if problems else None
    with gr.Row():
        picker = gr.Dropdown(list(by_title), value=next(iter(by_title), None),
                             label="Bundled problem (LiveCodeBench schema)", scale=2)
        max_tokens = gr.Slider(16, 2048, value=config.max_new_tokens, step=16, label="max new tokens")
    question = gr.Textbox(first.question if first else "", lines=5, label="Problem (edit or type your own)",
                          elem_id="question")
    starter = gr.Code(first.starter_code if first else "", language="python", lines=2, label="Starter code (optional)")
    generate = gr.Button("Generate", variant="primary", elem_id="generate-btn")
    gr.Markdown(sandbox_status(), elem_id="sandbox-status")
    with gr.Row(equal_height=False):
        panes = [_pane(index, slot) for index, slot in enumerate(slots)]

    def pick(title: str):
        problem = by_title.get(title)
        return (problem.question, problem.starter_code) if problem else (gr.skip(), gr.skip())

    picker.change(pick, picker, [question, starter])
    for pane in panes:
        generate.click(make_generate(pane.slot), [question, starter, pane.temperature, pane.top_k, pane.top_p, max_tokens],
                       [pane.status, pane.output, pane.code], concurrency_id=f"model-{pane.slot.spec.name}")
        pane.test_button.click(make_tests(pane.slot, by_title), [picker, question, pane.code, pane.output], pane.verdict)
    demo.load(lambda: _check_models(panes), None,
              [p.status for p in panes] + [p.test_button for p in panes] + [p.code for p in panes])
    return panes, question, starter


def _score_tokens(slots: list[ModelSlot], source_name: str, colour: str, question_text: str, starter_code: str,
                  completions: tuple) -> list[str]:
    """The chosen pane's completion, scored by every model, as one HTML view per model."""
    names = [slot.spec.name for slot in slots]
    completion = completions[names.index(source_name)]
    if not (completion or "").strip():
        return [f"<p>Generate a completion with {html.escape(source_name)} first.</p>"] * len(slots)
    messages = _messages(question_text, starter_code)
    all_stats = []
    for slot in slots:
        try:
            all_stats.append(slot.token_stats(messages, completion))
        except ModelLoadError as failure:
            all_stats.append(str(failure))
    numeric = [s for stats in all_stats if isinstance(stats, list) for s in stats]
    scale = max((s.entropy for s in numeric), default=1.0)
    mode = "entropy" if colour == "entropy" else "label"
    return [f"<p><b>Error:</b> {html.escape(stats)}</p>" if isinstance(stats, str) else tokens_html(stats, mode, scale)
            for stats in all_stats]


def _tokens_tab(slots: list[ModelSlot], panes: list[Pane], question, starter) -> None:
    gr.Markdown("The same completion, scored by every model: each token coloured by the model's "
                "next-token entropy (white sure, red uncertain) or by its lock / fork label "
                "(blue lock: one token holds most of the mass; orange fork: several plausible). "
                "Hover a token for its numbers.")
    names = [slot.spec.name for slot in slots]
    with gr.Row():
        source = gr.Radio(names, value=names[0], label="completion from")
        colour_by = gr.Radio(["entropy", "lock/fork"], value="entropy", label="colour by")
        score = gr.Button("Score tokens", elem_id="score-btn")
    views = []
    with gr.Row(equal_height=False):
        for index, name in enumerate(names):
            with gr.Column():
                gr.Markdown(f"#### {html.escape(name)}")
                views.append(gr.HTML(elem_id=f"tokens-{index}"))
    score.click(lambda name, colour, q, s, *done: _score_tokens(slots, name, colour, q, s, done),
                [source, colour_by, question, starter, *[pane.output for pane in panes]], views)


def load_results(specs: list[ModelSpec]):
    """(pass@k figure, sweep figure, table) for the Results tab; an empty chart is hidden, not drawn blank."""
    found = {spec.name: find_results(spec) for spec in specs}
    aggregates = {name: headline(results)["aggregates"] for name, results in found.items() if headline(results)}
    sweeps = {name: sweep_points(results) for name, results in found.items()}
    text = summary_markdown(specs, found)
    reports = report_summaries(specs)
    if reports:
        text += "\n\n" + reports
    if not any(sweeps.values()):
        text += "\n\nNo T_eval sweep recorded (run `ssd-hf eval --sweep_temperature ...`)."
    figures = passk_figure(aggregates), sweep_figure(sweeps)
    return *(gr.update(value=f, visible=f is not None) for f in figures), text


def _results_tab(specs: list[ModelSpec], demo: gr.Blocks) -> None:
    passk_plot = gr.Plot(label="pass@k by difficulty (95% CI)", elem_id="passk-plot")
    sweep_plot = gr.Plot(label="T_eval sweep", elem_id="sweep-plot")
    results_text = gr.Markdown(elem_id="results-table")
    reload = gr.Button("Reload results")
    demo.load(lambda: load_results(specs), None, [passk_plot, sweep_plot, results_text])
    reload.click(lambda: load_results(specs), None, [passk_plot, sweep_plot, results_text])


def build_demo(config: SpaceConfig) -> gr.Blocks:
    """The whole UI for the models in `config`; model loading happens lazily, one pane at a time."""
    specs = [resolve_model_path(spec) for spec in config.models]
    slots = [ModelSlot(spec) for spec in specs]
    problems = load_problems(config.problems)
    with gr.Blocks(title="SSD side by side") as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Generate", id="generate"):
                panes, question, starter = _generate_tab(config, slots, problems, demo)
            with gr.Tab("Tokens", id="tokens"):
                _tokens_tab(slots, panes, question, starter)
            with gr.Tab("Results", id="results"):
                _results_tab(specs, demo)
    return demo


def theme() -> gr.themes.Base:
    """System fonts only: the default theme would fetch Google Fonts, and the Space must work offline."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def main(default_config: str | None = None) -> None:
    """Build and serve the app; `default_config` is the config.yaml beside the Space's app.py."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo = build_demo(load_config(default=default_config))
    demo.queue(default_concurrency_limit=2).launch(theme=theme())

