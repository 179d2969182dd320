"""Browser room: finding and launching Chromium, selector maps, page objects, masking, traces."""

# `capture` and `launch` are also module names here: import those two functions from
# bots.browser.capture and bots.browser.launch.
from bots.browser.capture import MASKED_TEXT, captioned, capture_rows, screenshot_options, snapshot
from bots.browser.launch import browser_version, find_browser, launch_args, new_context
from bots.browser.pages import (
    BATCH_LINE_FIELDS,
    RESPONSE_FIELDS,
    PortalPage,
    ScreenObserver,
    load_selector_map,
    playwright_trouble,
    reachable,
    required_keys,
    retry_after_s,
)
from bots.browser.selectors import (
    Element,
    Resolver,
    ScreenError,
    SelectorMap,
    SelectorNotFoundError,
    UnreadableError,
    page_path,
)
from bots.browser.tracing import TRACE_MEDIA_TYPE, FailureTracer, scrub_trace, shows_a_step

__all__ = [
    "BATCH_LINE_FIELDS",
    "Element",
    "FailureTracer",
    "MASKED_TEXT",
    "PortalPage",
    "RESPONSE_FIELDS",
    "Resolver",
    "ScreenError",
    "ScreenObserver",
    "SelectorMap",
    "SelectorNotFoundError",
    "TRACE_MEDIA_TYPE",
    "UnreadableError",
    "browser_version",
    "captioned",
    "capture_rows",
    "find_browser",
    "launch_args",
    "load_selector_map",
    "new_context",
    "page_path",
    "playwright_trouble",
    "reachable",
    "required_keys",
    "retry_after_s",
    "screenshot_options",
    "scrub_trace",
    "shows_a_step",
    "snapshot",
]
