"""fashiondemo: OCRNet | SAM | Fashionpedia ground truth, side by side, with the numbers beside the pictures.

    python app.py                      # serve on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / _PORT honoured)
    python app.py --random-weights     # both models with random weights: development and tests only

Handlers here are a few lines each: the work is in fashiondemo.handlers (UI-free) and fashiondemo.api.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Before torch loads: idle OpenMP threads sleep instead of spinning, so OCRNet and SAM (separate locks, each
# on all cores) do not steal each other's cores; spinning made SAM's decoder swing from ~80 ms to ~1 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr

from fashiondemo import api, exports, handlers
from fashiondemo.classes import CLASS_NAMES
from fashiondemo.model_flags import add_model_arguments, config_from_args
from fashiondemo.services import AppConfig, ModelHub, ModelUnavailable
from fashiondemo.session import CLICK_MODES, POSITIVE, Session
from fashiondemo.sources import EXAMPLES_DIR, ExampleLibrary, FashionpediaBrowser, load_upload

MAX_FILE_SIZE = os.getenv("FASHIONDEMO_MAX_FILE_SIZE", "20mb")
QUEUE_SIZE = int(os.getenv("FASHIONDEMO_QUEUE_SIZE", "32"))
CSS = """
.legend {font-size: 0.85em; line-height: 1.9em}
.legend-item {margin-right: 0.9em; white-space: nowrap}
.swatch {display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em;
         border: 1px solid #444}
.panel-msg {white-space: pre-wrap; font-size: 0.85em; color: #a33}
"""


def parse_config(argv: list[str]) -> tuple[AppConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--fashionpedia-root",
        default=os.getenv("FASHIONDEMO_FASHIONPEDIA_ROOT"),
        help="folder with instances_attributes_val2020.json and test/ (Fashionpedia val)",
    )
    parser.add_argument("--host", default=None, help="default: GRADIO_SERVER_NAME or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: GRADIO_SERVER_PORT or 7860")
    args = parser.parse_args(argv)
    root = Path(args.fashionpedia_root) if args.fashionpedia_root else None
    return config_from_args(parser, args, fashionpedia_root=root), args


CONFIG, ARGS = parse_config(sys.argv[1:] if __name__ == "__main__" else [])
HUB = ModelHub(CONFIG)
HUB.probe()
EXAMPLES = ExampleLibrary()
FASHIONPEDIA = FashionpediaBrowser(CONFIG.fashionpedia_root) if CONFIG.fashionpedia_root else None


# ---- thin handlers
def _progress(progress: gr.Progress):
    return lambda fraction, desc="": progress(fraction, desc=desc)


def _warn(exc: Exception) -> None:
    gr.Warning(str(exc), duration=8)


def render_all(session: Session, alpha: float, hidden: list[str]):
    """Every panel, legend and table from the session (no model calls)."""
    look = handlers.Look.of(alpha, hidden)
    ocr_img, ocr_legend = handlers.ocrnet_view(session, HUB, look)
    gt_img, gt_legend = handlers.gt_view(session, look)
    rows, summary = handlers.metrics_view(session)
    study_rows, study_summary = handlers.study_view(session)
    title = session.record.title if session.record else "no image yet"
    return (
        ocr_img,
        ocr_legend,
        *render_sam(session, alpha),
        gt_img,
        gt_legend,
        rows,
        summary,
        study_rows,
        study_summary,
        f"**Image**: {title}",
        HUB.status_markdown(),
    )


def render_sam(session: Session, alpha: float):
    choices, chosen = handlers.candidate_choices(session)
    picture = handlers.sam_view(session, HUB, handlers.Look.of(alpha, ()))
    return picture, handlers.sam_numbers(session), gr.Radio(choices=choices, value=chosen)


def on_new_record(load, session: Session, alpha, hidden):
    try:
        record = load()
    except (ValueError, KeyError, OSError) as exc:  # ImageLoadError is a ValueError: keep the old image
        _warn(exc)
        return session, *render_all(session, alpha, hidden)
    session.set_record(record)
    return session, *render_all(session, alpha, hidden)


def on_upload(path, session, alpha, hidden):
    if not path:
        return session, *render_all(session, alpha, hidden)
    return on_new_record(lambda: load_upload(path), session, alpha, hidden)


def on_example(evt: gr.SelectData, session, alpha, hidden):
    name = EXAMPLES.names()[evt.index]
    return on_new_record(lambda: EXAMPLES.load(name), session, alpha, hidden)


def on_fashionpedia(image_id, session, alpha, hidden):
    if FASHIONPEDIA is None:
        _warn(ValueError("start the app with --fashionpedia-root DIR (val json + test/ images) to browse"))
        return session, *render_all(session, alpha, hidden)
    wanted = int(image_id) if image_id not in (None, "") else None
    return on_new_record(lambda: FASHIONPEDIA.load(wanted), session, alpha, hidden)


def on_ocrnet(session, alpha, hidden, progress=gr.Progress()):
    handlers.run_ocrnet(session, HUB, _progress(progress))
    return session, *render_all(session, alpha, hidden)


def on_precompute(session, progress=gr.Progress(track_tqdm=True)):
    message = handlers.precompute_sam(session, HUB, _progress(progress))
    return message, HUB.status_markdown()


def on_click(evt: gr.SelectData, session, mode, alpha):
    x, y = evt.index[0], evt.index[1]
    try:
        handlers.click(session, HUB, float(x), float(y), mode)
    except handlers.UserError as exc:
        _warn(exc)
    except ModelUnavailable as exc:
        return session, None, f"<div class='panel-msg'>{exc}</div>", gr.Radio(choices=[], value=None)
    return session, *render_sam(session, alpha)


def on_prompt_edit(action, session, alpha, multimask):
    session.multimask = bool(multimask)
    session.everything_masks, session.study = None, None
    try:
        action(session)
        handlers.run_sam(session, HUB)
    except (handlers.UserError, ModelUnavailable) as exc:
        _warn(exc)
    return session, *render_sam(session, alpha)


def on_choose(choice, session, alpha):
    handlers.choose_candidate(session, choice)
    return session, *render_sam(session, alpha)[:2]


def on_everything(session, alpha, hidden, progress=gr.Progress()):
    try:
        count = handlers.everything(session, HUB, _progress(progress))
        gr.Info(f"everything mode: {count} masks")
    except (handlers.UserError, ModelUnavailable) as exc:
        _warn(exc)
    return session, *render_all(session, alpha, hidden)


def on_study(kind, session, alpha, hidden, progress=gr.Progress()):
    try:
        handlers.study(session, HUB, kind, _progress(progress))
    except (handlers.UserError, ModelUnavailable) as exc:
        _warn(exc)
    return session, *render_all(session, alpha, hidden)


def on_export(session):
    try:
        return [str(p) for p in exports.export_session(session, HUB)]
    except handlers.UserError as exc:
        _warn(exc)
        return []


# ---- API endpoints (gradio_client): files + JSON in, PNG + JSON out
def _api_call(work):
    try:
        return work()
    except (handlers.UserError, ModelUnavailable) as exc:
        raise gr.Error(str(exc)) from exc


def api_ocrnet(image, source):
    return _api_call(lambda: api.ocrnet(HUB, api.load_record(image, source, EXAMPLES, FASHIONPEDIA)))


def api_sam(image, source, prompts):
    return _api_call(lambda: api.sam(HUB, api.load_record(image, source, EXAMPLES, FASHIONPEDIA), prompts))


def api_compare(image, source, prompts):
    return _api_call(
        lambda: api.compare_all(HUB, api.load_record(image, source, EXAMPLES, FASHIONPEDIA), prompts)
    )


def api_everything(image, source):
    return _api_call(lambda: api.everything(HUB, api.load_record(image, source, EXAMPLES, FASHIONPEDIA)))


# ---- layout
# The three panels are pictures to look at, sent as JPEG: PNG encoding took 390 ms for a 1024x1536 panel
# against 4 ms for JPEG q90, most of a click's budget. Masks and label maps (exports, API) stay lossless PNG.
with gr.Blocks(title="fashiondemo: OCRNet vs SAM vs Fashionpedia", delete_cache=(3600, 3600)) as demo:
    session_state = gr.State(Session())
    gr.Markdown("## fashiondemo — OCRNet (47 Fashionpedia classes) · SAM (promptable) · ground truth")
    status_md = gr.Markdown(HUB.status_markdown(), elem_id="model-status")
    with gr.Row():
        with gr.Column(scale=1):
            # image_mode=None: Gradio passes the file on as uploaded. Its default ("RGB") decodes and
            # converts it first: alpha dropped (black, not white), 16-bit clipped, bombs decoded
            # before our size check.
            upload = gr.Image(
                label="Upload a photo",
                type="filepath",
                image_mode=None,
                sources=["upload", "clipboard"],
                height=220,
            )
        with gr.Column(scale=2):
            gallery = gr.Gallery(
                value=[str(p) for p in EXAMPLES.paths()],
                label="Examples (synthetic ones have GT)",
                columns=6,
                height=220,
                allow_preview=False,
                elem_id="examples",
            )
        with gr.Column(scale=1):
            fp_id = gr.Textbox(label="Fashionpedia image id (empty = random)", elem_id="fp-id")
            fp_button = gr.Button("Load Fashionpedia image", interactive=FASHIONPEDIA is not None)
    image_md = gr.Markdown("**Image**: no image yet", elem_id="image-title")
    with gr.Row():
        alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Overlay opacity")
        mode = gr.Radio(
            list(CLICK_MODES), value=POSITIVE, label="Click on the SAM panel to add", elem_id="mode"
        )
        multimask = gr.Checkbox(True, label="SAM: 3 candidates for a single prompt")
    with gr.Accordion("Hide classes", open=False):
        hidden = gr.CheckboxGroup(list(CLASS_NAMES[1:]), label="Hidden in OCRNet and GT overlays")
    with gr.Row(equal_height=True):
        with gr.Column():
            ocr_img = gr.Image(label="OCRNet", format="jpeg", interactive=False, elem_id="ocrnet-panel")
            ocr_legend = gr.HTML(elem_id="ocrnet-legend")
        with gr.Column():
            sam_img = gr.Image(
                label="SAM (click here)", format="jpeg", interactive=False, elem_id="sam-panel"
            )
            sam_info = gr.Markdown(elem_id="sam-info")
            candidates = gr.Radio([], label="SAM candidates", elem_id="sam-candidates")
            with gr.Row():
                undo_btn, clear_btn = gr.Button("Undo last"), gr.Button("Clear prompts")
                everything_btn = gr.Button("Everything mode")
        with gr.Column():
            gt_img = gr.Image(label="Ground truth", format="jpeg", interactive=False, elem_id="gt-panel")
            gt_legend = gr.HTML(elem_id="gt-legend")
    with gr.Row():
        with gr.Column():
            metrics_md = gr.Markdown(elem_id="metrics-summary")
            metrics_df = gr.Dataframe(
                headers=["label", "class", "IoU %", "Acc %"],
                label="OCRNet vs GT, this image",
                interactive=False,
                elem_id="metrics-table",
            )
        with gr.Column():
            with gr.Row():
                gt_study_btn = gr.Button("Prompt SAM with GT boxes (oracle)")
                ocr_study_btn = gr.Button("Prompt SAM with OCRNet regions")
            study_md = gr.Markdown()
            study_df = gr.Dataframe(headers=["prompt", "box", "score", "IoU %"], interactive=False)
    with gr.Row():
        export_btn = gr.Button("Export masks (PNG + COCO RLE), label map and metrics (CSV)")
        export_files = gr.File(label="Exports", file_count="multiple")
    sam_note = gr.Markdown()

    sam_outputs = [sam_img, sam_info, candidates]
    all_outputs = [
        session_state,
        ocr_img,
        ocr_legend,
        *sam_outputs,
        gt_img,
        gt_legend,
        metrics_df,
        metrics_md,
        study_df,
        study_md,
        image_md,
        status_md,
    ]
    view_inputs = [session_state, alpha, hidden]

    def after_image(event):
        """Every image arrival: OCRNet next (its own queue), then SAM's embedding, so clicks are instant."""
        event.then(
            on_ocrnet,
            view_inputs,
            all_outputs,
            concurrency_id="ocrnet",
            concurrency_limit=1,
            api_visibility="private",
        ).then(
            on_precompute,
            [session_state],
            [sam_note, status_md],
            concurrency_id="sam",
            concurrency_limit=1,
            api_visibility="private",
        )

    after_image(upload.upload(on_upload, [upload, *view_inputs], all_outputs, api_visibility="private"))
    after_image(gallery.select(on_example, view_inputs, all_outputs, api_visibility="private"))
    after_image(
        fp_button.click(on_fashionpedia, [fp_id, *view_inputs], all_outputs, api_visibility="private")
    )
    sam_img.select(
        on_click,
        [session_state, mode, alpha],
        [session_state, *sam_outputs],
        concurrency_id="sam",
        concurrency_limit=1,
        api_visibility="private",
    )
    for button, action in ((undo_btn, Session.undo), (clear_btn, Session.clear_prompts)):
        button.click(
            lambda s, a, m, act=action: on_prompt_edit(act, s, a, m),
            [session_state, alpha, multimask],
            [session_state, *sam_outputs],
            concurrency_id="sam",
            api_visibility="private",
        )
    multimask.change(
        lambda s, a, m: on_prompt_edit(lambda _: None, s, a, m),
        [session_state, alpha, multimask],
        [session_state, *sam_outputs],
        concurrency_id="sam",
        api_visibility="private",
    )
    candidates.input(
        on_choose,
        [candidates, session_state, alpha],
        [session_state, sam_img, sam_info],
        api_visibility="private",
    )
    everything_btn.click(
        on_everything, view_inputs, all_outputs, concurrency_id="sam", api_visibility="private"
    )
    gt_study_btn.click(
        lambda s, a, h: on_study("gt", s, a, h),
        view_inputs,
        all_outputs,
        concurrency_id="sam",
        api_visibility="private",
    )
    ocr_study_btn.click(
        lambda s, a, h: on_study("ocrnet", s, a, h),
        view_inputs,
        all_outputs,
        concurrency_id="sam",
        api_visibility="private",
    )
    for control in (alpha, hidden):
        control.change(render_all, view_inputs, all_outputs[1:], api_visibility="private")
    export_btn.click(on_export, [session_state], [export_files], api_visibility="private")

    # Named API endpoints for gradio_client (documented in README). `source` = "" (use the uploaded file),
    # a bundled example name ("synthetic #1001", "photo: astronaut_eileen_collins") or "fashionpedia:<id>".
    with gr.Group(visible=False):
        api_image = gr.Image(type="filepath", image_mode=None, label="image")  # as uploaded: see `upload`
        api_source = gr.Textbox(label="source")
        api_prompts = gr.Textbox(label="prompts JSON")
        api_labels = gr.Image(format="png", label="label map (uint8 PNG)", image_mode="L")
        api_mask = gr.Image(format="png", label="mask (uint8 PNG, 255 = mask)", image_mode="L")
        api_panels = [gr.Image(format="png", label=f"{n} overlay") for n in ("OCRNet", "SAM", "GT")]
        api_json = gr.JSON(label="info")
        api_buttons = {name: gr.Button() for name in ("ocrnet", "sam", "compare", "everything")}
    # (function, inputs, outputs, the queue it shares): each model's queue runs one request at a time.
    endpoints = {
        "ocrnet": (api_ocrnet, [api_image, api_source], [api_labels, api_json], "ocrnet"),
        "sam": (api_sam, [api_image, api_source, api_prompts], [api_mask, api_json], "sam"),
        "compare": (api_compare, [api_image, api_source, api_prompts], [*api_panels, api_json], "compare"),
        "everything": (api_everything, [api_image, api_source], [api_panels[1], api_json], "sam"),
    }
    for name, (function, inputs, outputs, queue) in endpoints.items():
        api_buttons[name].click(
            function, inputs, outputs, api_name=name, concurrency_id=queue, concurrency_limit=1
        )
    demo.load(lambda: HUB.status_markdown(), None, status_md, api_visibility="private")

demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)

if __name__ == "__main__":
    demo.launch(
        server_name=ARGS.host,
        server_port=ARGS.port,
        max_file_size=MAX_FILE_SIZE,
        allowed_paths=[str(EXAMPLES_DIR)],
        css=CSS,
        show_error=True,
    )
