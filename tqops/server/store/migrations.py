"""The store's schema, as migrations: entry *i* takes the schema's version (SQLite's ``PRAGMA
user_version``, PostgreSQL's ``schema_version`` table) from *i* to *i + 1*. Never edit one
that has shipped; add the next, in the SQL both engines run (:mod:`.dialect`: SQLite's type
names, no ``INSERT OR``, reserved words such as ``"user"`` quoted; quoting it in the first
entry was the one edit after it shipped, and makes the same SQLite table)."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

#: each entry migrates the schema from version i to i + 1; never edit one that has shipped
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE integrations (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        installed_at TEXT NOT NULL,
        installed_by TEXT NOT NULL
    );
    CREATE TABLE operation_settings (
        operation TEXT PRIMARY KEY,
        config TEXT NOT NULL DEFAULT '{}',
        enabled INTEGER NOT NULL DEFAULT 1,
        max_tlp TEXT NOT NULL DEFAULT 'AMBER',
        cache_ttl INTEGER NOT NULL DEFAULT 3600,
        updated_at TEXT
    );
    CREATE TABLE indicators (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        value TEXT NOT NULL,
        tlp TEXT NOT NULL,
        note TEXT,
        source TEXT,
        created_at TEXT NOT NULL,
        created_by TEXT,
        UNIQUE (type, value)
    );
    CREATE TABLE indicator_attributes (
        indicator_id INTEGER NOT NULL REFERENCES indicators(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        published_at TEXT,
        source TEXT NOT NULL,
        UNIQUE (indicator_id, name, value, source)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        operation TEXT NOT NULL,
        action TEXT NOT NULL,
        options TEXT NOT NULL,
        status TEXT NOT NULL,
        total INTEGER NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        error TEXT
    );
    CREATE TABLE job_inputs (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        value TEXT NOT NULL,
        tlp TEXT NOT NULL,
        indicator_id INTEGER,
        PRIMARY KEY (job_id, seq)
    );
    CREATE TABLE results (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );
    CREATE TABLE cache (
        operation TEXT NOT NULL,
        action TEXT NOT NULL,
        options_key TEXT NOT NULL,
        type TEXT NOT NULL,
        value TEXT NOT NULL,
        result TEXT NOT NULL,
        stored_at REAL NOT NULL,
        PRIMARY KEY (operation, action, options_key, type, value)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        "user" TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX indicators_by_type ON indicators (type, value);
    CREATE INDEX results_by_status ON results (job_id, status);
    """,
    """
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL DEFAULT '',
        expires_at REAL NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
    ALTER TABLE operation_settings ADD COLUMN misp_allowed INTEGER NOT NULL DEFAULT 0;
    """,
    # inputs policy kept from the vendor (result status skipped), counted apart from failures
    """
    ALTER TABLE jobs ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET skipped = (
        SELECT COUNT(*) FROM results WHERE results.job_id = jobs.id AND status = 'skipped'
    );
    """,
    # credential generations: a password change, a new API key or disabling a user bumps the
    # user's; each session or token keeps those it was minted under and dies on a mismatch.
    # Rows from before start at 0, so every token minted before this version ends once.
    """
    ALTER TABLE users ADD COLUMN password_generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE sessions ADD COLUMN password_generation INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 0;
    """,
    # what an upload replaced: the settings of the operation of that name (a built-in one) when
    # the upload was first installed, given back when the upload is removed
    """
    ALTER TABLE integrations ADD COLUMN replaced_settings TEXT;
    """,
    # workers: each claims a slice of a job's inputs under a lease it renews (claimed_by,
    # claimed_until); an input with its result is answered (claims skip it without a join);
    # a job's claimed_at orders the fair choice of the next slice; carried holds, sealed, a
    # configuration the request carried (MISP's), cleared when the job ends; each worker
    # says it is alive in workers; pacing holds each vendor's next free slot, shared by them
    """
    ALTER TABLE job_inputs ADD COLUMN answered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_inputs ADD COLUMN claimed_by TEXT;
    ALTER TABLE job_inputs ADD COLUMN claimed_until REAL;
    UPDATE job_inputs SET answered = 1 WHERE EXISTS (
        SELECT 1 FROM results WHERE results.job_id = job_inputs.job_id
        AND results.seq = job_inputs.seq
    );
    CREATE INDEX job_inputs_open ON job_inputs (job_id, answered, seq);
    ALTER TABLE jobs ADD COLUMN claimed_at REAL;
    ALTER TABLE jobs ADD COLUMN carried TEXT;
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        machine TEXT NOT NULL,
        pid INTEGER NOT NULL,
        concurrency INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        seen_at REAL NOT NULL
    );
    CREATE TABLE pacing (
        vendor TEXT PRIMARY KEY,
        next_at REAL NOT NULL
    );
    """,
    # (7, ThreatQ's indicator fields) what ThreatQ's clients read of an indicator besides its
    # value: its status (one a client gave it, or the latest verdict's), the latest verdict's
    # level and 0-100 score, and when any of it or its attributes last changed (Elastic's
    # feed pages by it). Rows from before: no status, no verdict, changed when created.
    """
    ALTER TABLE indicators ADD COLUMN status TEXT;
    ALTER TABLE indicators ADD COLUMN verdict TEXT;
    ALTER TABLE indicators ADD COLUMN score INTEGER;
    ALTER TABLE indicators ADD COLUMN updated_at TEXT;
    UPDATE indicators SET updated_at = created_at;
    CREATE INDEX indicators_by_update ON indicators (updated_at, id);
    """,
    # (8) each operation's daily quota of vendor look-ups (0: none), set by an admin, and what
    # each UTC day used of it, counted for every worker of the store together
    """
    ALTER TABLE operation_settings ADD COLUMN daily_quota INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE quota_usage (
        operation TEXT NOT NULL,
        day TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (operation, day)
    );
    """,
    # (9) what a Cortex run request carried beyond the job (data type as named, TLP and PAP
    # numbers, message, label, parameters that are no option), and Cortex's deletions
    """
    CREATE TABLE cortex_jobs (
        job_id INTEGER NOT NULL PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        request TEXT NOT NULL DEFAULT '{}',
        deleted_at TEXT
    );
    """,
    # (10) indicator pages: each stored attribute keeps the TLP it was added under and the job that
    # found it (NULL for rows from before); an indicator's enrichment history finds the jobs
    # that searched it by its id or its type and value without reading every input
    """
    ALTER TABLE indicator_attributes ADD COLUMN tlp TEXT;
    ALTER TABLE indicator_attributes ADD COLUMN job_id INTEGER;
    CREATE INDEX job_inputs_by_indicator ON job_inputs (indicator_id);
    CREATE INDEX job_inputs_by_value ON job_inputs (type, value);
    """,
    # (11) an uploaded integration's file itself, so that every host and worker of the store
    # installs it under its own data directory (NULL for rows from before: the node that has
    # the file gives it to the store when it next loads it)
    """
    ALTER TABLE integrations ADD COLUMN wheel BLOB;
    """,
)
