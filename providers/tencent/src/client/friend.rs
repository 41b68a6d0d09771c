//! `sns/friend_add` and `sns/friend_delete`, both ways.
