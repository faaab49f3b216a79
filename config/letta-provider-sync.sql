-- Letta's record of the stack's own model provider, brought in step with the settings before Letta starts.
-- Run by `make up` (services/stack/database.py) and by the letta container's entry (config/letta-entry.sh):
--   psql -v endpoint=<OpenAI-compatible base URL> -v model=<LLM_MODEL> -f letta-provider-sync.sql
--
-- Letta 0.16.8 (archived upstream) has no API for either step:
-- * it stores a base provider's base URL once, at its first start, and never updates it: after a change of
--   OPENAI_BASE_URL (or of the local LLM's port) its models still pointed at the old server;
-- * it soft-deletes a provider model the provider stops serving (provider_models.is_deleted) and never
--   revives it ("already exists (concurrent insert), skipping"): switching the model away and back left it
--   invisible and `make up` stuck on "Letta offers no model".
-- Only the global base provider that Letta builds from OPENAI_BASE_URL/OPENAI_API_KEY (name 'openai',
-- category 'base') is touched, and of its models only the configured one; providers added through Letta's
-- API (BYOK) and every other row are left alone. Letta's next model sync at start keeps what this leaves.
\set ON_ERROR_STOP on
SELECT to_regclass('public.providers') IS NOT NULL AND to_regclass('public.provider_models') IS NOT NULL AS ready
\gset
\if :ready
BEGIN;
UPDATE providers SET base_url = :'endpoint'
 WHERE name = 'openai' AND provider_category = 'base' AND organization_id IS NULL AND NOT is_deleted
   AND base_url IS DISTINCT FROM :'endpoint'
RETURNING 'provider ' || name || ' now at ' || base_url;
UPDATE provider_models SET is_deleted = false
 WHERE is_deleted AND model_type = 'llm' AND name = :'model'
   AND provider_id IN (SELECT id FROM providers
                        WHERE name = 'openai' AND provider_category = 'base' AND organization_id IS NULL
                          AND NOT is_deleted)
RETURNING 'revived ' || handle;
COMMIT;
\endif
