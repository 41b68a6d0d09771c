#!/usr/bin/env python3
"""What each step of the MongoDB unread recount costs, next to the message insert it follows.

Times, per batch of 256 one-to-one messages between random pairs, the insert of the messages and
the steps of `src/messages/mongo/unread.rs`, with the service's indexes on the collections, in its
two versions, alternating on the same batches:
- "per pair" (before version 4 of the data): claim each pair's generation (bulk upsert), read them
  back, count each pair over the `unread` index, store each count unless a newer one is stored;
- "counter" (now): take one generation from a counter (`findAndModify`), count each pair, upsert
  each count unless a newer one is stored.
It talks to any MongoDB-protocol server; here it is SecantusDB:

    python3 -m venv /tmp/v && /tmp/v/bin/pip install -q secantusdb==0.7.0b3
    /tmp/v/bin/secantusd-py --host 127.0.0.1 --port 27118 --storage-path :memory: &
    /tmp/v/bin/python bench/scripts/mongo_recount_steps.py mongodb://127.0.0.1:27118/?directConnection=true

It uses (and drops first) the database `recount_steps`. The figures explain P1's MongoDB rows in
BENCHMARKS.md; they are not a target of their own.
"""
import random
import sys
import time

import pymongo
from pymongo import ReturnDocument, UpdateOne

BATCHES, BATCH = 12, 256
CONDITIONS = {"conversation": "p2p", "state": 0, "countsUnread": True, "recalled": False}


def main(uri: str) -> None:
    client = pymongo.MongoClient(uri)
    client.drop_database("recount_steps")
    db = client.recount_steps
    messages, counts = db.messages, db.unread_counts
    messages.create_index([("to", 1), ("key", 1)], unique=True)
    messages.create_index([("key", 1)])
    messages.create_index(
        [("to", 1), ("from", 1), ("countsUnread", 1), ("recalled", 1), ("sentAt", 1)],
        name="unread",
        partialFilterExpression={"conversation": "p2p", "state": 0},
    )
    messages.create_index([("to", 1), ("from", 1), ("sentAt", 1), ("key", 1)], name="pair")
    for collection in (counts, db.unread_counts_counter):
        collection.create_index([("reader", 1), ("n", 1)], name="reader_unread")

    spent: dict[str, float] = {}

    def timed(step, f):
        started = time.perf_counter()
        result = f()
        spent[step] = spent.get(step, 0.0) + time.perf_counter() - started
        return result

    def count_each(variant, touched):
        return timed(
            f"{variant} count each pair",
            lambda: {(r, p): messages.count_documents({**CONDITIONS, "to": r, "from": p}) for r, p in touched},
        )

    def per_pair(touched):
        ids = [f"{r}|{p}" for r, p in touched]
        claims = [
            UpdateOne(
                {"_id": f"{r}|{p}", "reader": r},
                {"$inc": {"gen": 1}, "$setOnInsert": {"peer": p, "n": 0, "countedGen": 0}},
                upsert=True,
            )
            for r, p in touched
        ]
        timed("per pair 1 claim generations (bulk upsert)", lambda: counts.bulk_write(claims, ordered=False))
        generations = timed(
            "per pair 2 read generations ($in)",
            lambda: {d["_id"]: d["gen"] for d in counts.find({"_id": {"$in": ids}}, {"gen": 1}).batch_size(len(ids))},
        )
        numbers = count_each("per pair 3", touched)
        sets = [
            UpdateOne(
                {"_id": f"{r}|{p}", "reader": r, "countedGen": {"$lt": generations[f"{r}|{p}"]}},
                {"$set": {"n": numbers[(r, p)], "countedGen": generations[f"{r}|{p}"]}},
            )
            for r, p in touched
        ]
        timed("per pair 4 store the counts (bulk conditional update)", lambda: counts.bulk_write(sets, ordered=False))

    def counter(touched):
        generation = timed(
            "counter 1 take a generation (findAndModify)",
            lambda: db.imbridge_meta.find_one_and_update(
                {"_id": "unread_counts"}, {"$inc": {"gen": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )["gen"],
        )
        numbers = count_each("counter 2", touched)
        sets = [
            UpdateOne(
                {"_id": f"{r}|{p}", "reader": r, "countedGen": {"$lt": generation}},
                {"$set": {"n": numbers[(r, p)], "countedGen": generation}, "$setOnInsert": {"peer": p}},
                upsert=True,
            )
            for r, p in touched
        ]
        timed(
            "counter 3 store the counts (bulk conditional upsert)",
            lambda: db.unread_counts_counter.bulk_write(sets, ordered=False),
        )

    key = 0
    for batch in range(BATCHES):
        pairs = [(f"buyer{random.randrange(2000)}", f"shop{random.randrange(100)}") for _ in range(BATCH)]
        docs = []
        for to, sender in pairs:
            key += 1
            docs.append({"to": to, "from": sender, "key": f"k{key}", "sentAt": key, "body": "x" * 300, **CONDITIONS})
        timed("insert the messages", lambda: messages.insert_many(docs, ordered=False))
        touched = sorted(set(pairs))
        for variant in (per_pair, counter) if batch % 2 == 0 else (counter, per_pair):
            variant(touched)
    client.drop_database("recount_steps")
    print(f"{BATCHES} batches of {BATCH} messages; mean per batch:")
    for step, seconds in spent.items():
        print(f"  {step}: {seconds / BATCHES * 1000:.1f} ms")
    for variant in ("per pair", "counter"):
        recount = sum(v for k, v in spent.items() if k.startswith(variant))
        print(f"  {variant}: recount in all: {recount / BATCHES * 1000:.1f} ms")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mongodb://127.0.0.1:27118/?directConnection=true")
