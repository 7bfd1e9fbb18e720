//! Weir actor runtime layer.
