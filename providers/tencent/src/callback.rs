//! Tencent callbacks: verification of the signed query string, and lenient parsing into neutral events.
