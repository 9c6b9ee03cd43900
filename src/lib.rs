//! tollgate: configuration, wiring and front ends around the rater and the session controller.
