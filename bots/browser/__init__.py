"""Browser room: finding and launching Chromium, selector maps, page objects, masking."""
