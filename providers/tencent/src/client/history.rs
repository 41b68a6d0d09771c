//! `openim/admin_getroammsg`: one page of a C2C conversation's roaming history.
