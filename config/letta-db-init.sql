-- Run once, on the database's first start, by the postgres image's entrypoint (compose.yaml mounts this
-- file into /docker-entrypoint-initdb.d; it runs in POSTGRES_DB as POSTGRES_USER). Letta's migrations
-- need the vector type, and nothing else creates the extension when Letta's database is outside its
-- image: the native stack does the same (services/stack/database.py).
CREATE EXTENSION IF NOT EXISTS vector;
