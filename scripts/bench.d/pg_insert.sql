-- PostgreSQL's own limit for the same single-event appends: an INSERT into a copy of the events
-- table without reproj's append lock (no trigger), one transaction each.
\set s random(1, 100000)
INSERT INTO bench_events (event_id, stream_id, stream_version, event_type, data, metadata)
VALUES (gen_random_uuid()::text, 's' || :s, 1, 'bench.appended', '{"n": 1}', '{}');
