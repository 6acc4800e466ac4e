"""Display pixels from stored objects, and the renders pages show, made once and kept.

- `pipeline`: a frame's display pixels by the standard (PS3.3 C.11, PS3.4
  N.2), pure functions over a pydicom dataset;
- `renders`: a render named by what it shows (`RenderSpec`), made once and
  kept in storage (`ensure_render`), the window presets;
- `tasks`: the Celery tasks that make renders after ingest and on demand, the
  batching that sends them (`batched_renders`, the listener's `RenderSender`),
  and the sweep that queues those whose message was lost (`sweep_renders`);
- `views`: serving a render over HTTP, for a requester a view has checked;
- `report_pages`: a PDF report's pages as images (PDFium), for phones.
"""

from imaging.dicom import UnsupportedImage
from imaging.rendering.pipeline import (
    RENDERER_VERSION,
    FrameTransform,
    ModalityFrame,
    Window,
    apply_window,
    modality_frame,
    render_frame,
    render_greyscale,
)
from imaging.rendering.renders import (
    MODALITY_PRESETS,
    PRESETS,
    PREVIEW_MAX_SIDE,
    InvalidRenderRequest,
    RenderOutcome,
    RenderSpec,
    encode,
    ensure_render,
    make_render,
    read_render,
)
from imaging.rendering.report_pages import ReportPageError, page_count, report_page
from imaging.rendering.tasks import (
    TASK_OPTIONS,
    RenderBatch,
    RenderSender,
    batched_renders,
    middle_instance,
    prepare_render_queue,
    render_instance_previews,
    render_on_demand,
    render_series,
    render_series_thumbnail,
    schedule_renders,
    sweep_missing_renders,
    sweep_renders,
    tasks_run_inline,
)
from imaging.rendering.views import IMAGE_CACHE, serve_preview, serve_render, serve_series_thumbnail, serve_thumbnail

__all__ = [
    "IMAGE_CACHE",
    "MODALITY_PRESETS",
    "PRESETS",
    "PREVIEW_MAX_SIDE",
    "RENDERER_VERSION",
    "TASK_OPTIONS",
    "FrameTransform",
    "InvalidRenderRequest",
    "ModalityFrame",
    "RenderBatch",
    "RenderOutcome",
    "RenderSender",
    "RenderSpec",
    "ReportPageError",
    "UnsupportedImage",
    "Window",
    "apply_window",
    "batched_renders",
    "encode",
    "ensure_render",
    "make_render",
    "middle_instance",
    "modality_frame",
    "page_count",
    "prepare_render_queue",
    "read_render",
    "render_frame",
    "render_greyscale",
    "render_instance_previews",
    "render_on_demand",
    "render_series",
    "render_series_thumbnail",
    "report_page",
    "schedule_renders",
    "serve_preview",
    "serve_render",
    "serve_series_thumbnail",
    "serve_thumbnail",
    "sweep_missing_renders",
    "sweep_renders",
    "tasks_run_inline",
]
