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
    // 6: every inspection that reached the report stage (and the jobs table, below), kept per node (ferric's history of
    // inspections; Ironic keeps only the latest data). `raw` is the report as received, `data`
    // the processed {"inventory", "plugin_data"}; both zlib-compressed JSON.
    r#"
    CREATE TABLE inspections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        node_uuid TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT,
        received_at TEXT NOT NULL,
        finished_at TEXT,
        error TEXT,
        encoding TEXT NOT NULL,
        raw BLOB NOT NULL,
        data BLOB,
        -- The reported system serial (SMBIOS), for lookup and de-duplicating discovery.
        system_serial TEXT
    );
    CREATE INDEX inspections_node ON inspections(node_uuid, id);
    CREATE INDEX inspections_serial ON inspections(system_serial);
    -- ironic-inspector rules as posted to its API (port 5050); translated when applied.
    CREATE TABLE inspector_rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );
    -- Long-running conductor jobs over many nodes (bulk inspection): a JSON document each.
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        finished INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    "#,
    // 7: inspection rules (API 1.96). Conditions and actions live in the document.
    r#"
    CREATE TABLE inspection_rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        priority INTEGER NOT NULL DEFAULT 0,
        phase TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX inspection_rules_phase ON inspection_rules(phase);
    "#,
    // 8: runbooks (API 1.92).
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
    // 9: a node's parent as a column. Every node list filters on it (children are hidden
    // unless asked for), and `json_extract` parsed each node's whole document to find it.
    r#"
    ALTER TABLE nodes ADD COLUMN parent_node TEXT;
    UPDATE nodes SET parent_node = json_extract(data, '$.parent_node');
    "#,
];
