-- Version 3: the unread counts per (reader, peer), from the messages stored so far (the same terms
-- as the partial index `messages_unread`). From here on each write keeps them (apply.rs).
DELETE FROM unread_counts;
INSERT INTO unread_counts (reader, peer, n)
SELECT to_acc, from_acc, COUNT(*) FROM messages
WHERE conversation = 'p2p' AND state = 0 AND counts_unread = 1 AND recalled = 0
GROUP BY to_acc, from_acc;
