-- Version 1: provider-neutral message keys. Keys stored before there were two providers are the
-- provider's bare message id; they become `{provider}:{id}` (messages.rs `message_key`), and each
-- message document gets our `key` and `sentAt` fields. A message is Tencent's when its document has
-- Tencent's `MsgKey`, NetEase's otherwise (the only provider before Tencent); recalls and
-- conversation summaries follow the message they name. Run once, in one transaction, when
-- `PRAGMA user_version` is below 1 (the caller sets it).
UPDATE messages
SET msg_key = (CASE WHEN json_extract(document, '$.MsgKey') IS NOT NULL THEN 'tencent:' ELSE 'netease:' END) || msg_key
WHERE instr(msg_key, ':') = 0;

UPDATE messages
SET document = json_set(document, '$.key', msg_key, '$.sentAt', sent_at_ms)
WHERE json_extract(document, '$.key') IS NULL;

UPDATE recalls
SET msg_key = (CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.msg_key = 'tencent:' || recalls.msg_key)
                    THEN 'tencent:' ELSE 'netease:' END) || msg_key
WHERE instr(msg_key, ':') = 0;

UPDATE conversations
SET last_key = (CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.msg_key = 'tencent:' || conversations.last_key)
                     THEN 'tencent:' ELSE 'netease:' END) || last_key
WHERE instr(last_key, ':') = 0;
