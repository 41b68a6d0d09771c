//! `openim/*` messages: sendmsg, batchsendmsg, unread counts, read marks, recall.
