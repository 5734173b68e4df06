//! Schema migrations, applied in order on open. Never edit a released migration; add one.

pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT UNIQUE,
        instance_uuid TEXT UNIQUE,
        reservation TEXT,
        provision_state TEXT NOT NULL,
        driver TEXT NOT NULL,
        maintenance INTEGER NOT NULL DEFAULT 0,
        conductor_group TEXT NOT NULL DEFAULT '',
        data TEXT NOT NULL
    );
    CREATE INDEX nodes_provision_state ON nodes(provision_state);
    CREATE INDEX nodes_reservation ON nodes(reservation) WHERE reservation IS NOT NULL;
    CREATE INDEX nodes_driver ON nodes(driver);

    CREATE TABLE ports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL UNIQUE,
        name TEXT UNIQUE,
        node_uuid TEXT NOT NULL,
        portgroup_uuid TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX ports_node ON ports(node_uuid);
    CREATE INDEX ports_portgroup ON ports(portgroup_uuid);

    CREATE TABLE portgroups (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT UNIQUE,
        address TEXT UNIQUE,
        node_uuid TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX portgroups_node ON portgroups(node_uuid);

    CREATE TABLE chassis (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );

    CREATE TABLE conductors (
        hostname TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    "#,
    // 2: volume connectors and targets (API 1.32).
    r#"
    CREATE TABLE volume_connectors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        node_uuid TEXT NOT NULL,
        type TEXT NOT NULL,
        connector_id TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (type, connector_id)
    );
    CREATE INDEX volume_connectors_node ON volume_connectors(node_uuid);
    CREATE TABLE volume_targets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        node_uuid TEXT NOT NULL,
        boot_index INTEGER NOT NULL,
        volume_id TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (node_uuid, boot_index)
    );
    CREATE INDEX volume_targets_node ON volume_targets(node_uuid);
    "#,
    // 3: allocations (API 1.52).
    r#"
    CREATE TABLE allocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT UNIQUE,
        node_uuid TEXT UNIQUE,
        state TEXT NOT NULL,
        data TEXT NOT NULL
    );
    "#,
    // 4: deploy templates (API 1.55). Steps live in the document.
    r#"
    CREATE TABLE deploy_templates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );
    "#,
    // 5: node history (API 1.78) and node inventory (API 1.81).
    r#"
    CREATE TABLE node_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        node_uuid TEXT NOT NULL,
        created_at TEXT NOT NULL,
        severity TEXT NOT NULL,
        event_type TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX node_history_node ON node_history(node_uuid, id);
    -- The latest inspection data per node: zlib-compressed JSON {"inventory", "plugin_data"}.
    CREATE TABLE node_inventory (
        node_uuid TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        encoding TEXT NOT NULL,
        data BLOB NOT NULL
    );
    "#,
    // 7 (6 in this branch until inspection rules take the 6th place): runbooks (API 1.92).
    // Steps live in the document; owner and public are columns for the project filter.
    r#"
    CREATE TABLE runbooks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        owner TEXT,
        public INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    "#,
];
