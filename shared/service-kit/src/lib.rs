//! What every service shares at run time: health endpoints and shutdown.
