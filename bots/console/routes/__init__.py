"""The console's areas, one module each. bots.console.app includes the module-level `router`
(a fastapi.APIRouter) of every module here, in name order; its pages extend "base.html" and
live under templates/<area>/."""
