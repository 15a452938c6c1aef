from odoo.tools import SQL

# The reminder was stored as ``dunning.event``; every screen, email and docstring called it a reminder.
RENAMED_MODELS = (("dunning.event.line", "dunning.reminder.line"), ("dunning.event", "dunning.reminder"))
RENAMED_TABLES = (
    ("dunning_event_line", "dunning_reminder_line"),
    ("dunning_event", "dunning_reminder"),
    ("dunning_event_credit_line_rel", "dunning_reminder_credit_line_rel"),
)
RENAMED_COLUMNS = (
    ("dunning_reminder_line", "event_id", "reminder_id"),
    ("dunning_reminder", "event_type", "reminder_type"),
    ("dunning_reminder_credit_line_rel", "event_id", "reminder_id"),
)
# Columns of any table that hold a model's name (mail_message.model, ir_attachment.res_model, ...).
MODEL_NAME_COLUMNS = ("model", "res_model", "model_name", "res_model_name", "relation", "model_id")


def _renamed(name):
    return name.replace("dunning_event", "dunning_reminder").replace("event", "reminder")


def migrate(cr, version):
    """19.0.2.0.0 names the reminder ``dunning.reminder`` (and its line ``dunning.reminder.line``).

    Tables, columns, indexes and constraints are renamed in place, and so are the model's and fields' records
    with their external ids, so that the update finds every reminder, its chatter, attachments, activities,
    mail templates, tracking values and access rules where they were, and deletes nothing.
    The statement table shared by emails and the portal is no longer a no-update record: its wording follows
    the module from now on.
    """
    cr.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'dunning_event'")
    if not cr.fetchone():
        return
    for old, new in RENAMED_TABLES:
        cr.execute(SQL("ALTER TABLE %s RENAME TO %s", SQL.identifier(old), SQL.identifier(new)))
    for table, old, new in RENAMED_COLUMNS:
        cr.execute(
            SQL(
                "ALTER TABLE %s RENAME COLUMN %s TO %s", SQL.identifier(table), SQL.identifier(old), SQL.identifier(new)
            )
        )
    new_tables = [new for _old, new in RENAMED_TABLES]
    cr.execute(
        """
        SELECT con.conname, rel.relname
          FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
         WHERE rel.relname = ANY(%s) AND con.conname LIKE '%%event%%'
        """,
        [new_tables],
    )
    for name, table in cr.fetchall():
        cr.execute(
            SQL(
                "ALTER TABLE %s RENAME CONSTRAINT %s TO %s",
                SQL.identifier(table),
                SQL.identifier(name),
                SQL.identifier(_renamed(name)),
            )
        )
    # Indexes that back no constraint, and the id sequences.
    cr.execute("SELECT relname, relkind FROM pg_class WHERE relkind IN ('i', 'S') AND relname LIKE 'dunning%%event%%'")
    for name, kind in cr.fetchall():
        cr.execute(
            SQL(
                "ALTER %s %s RENAME TO %s",
                SQL("INDEX" if kind == "i" else "SEQUENCE"),
                SQL.identifier(name),
                SQL.identifier(_renamed(name)),
            )
        )
    cr.execute(
        "UPDATE ir_model_constraint SET name = replace(replace(name, 'dunning_event', 'dunning_reminder'),"
        " 'event', 'reminder') WHERE name LIKE '%%event%%' AND module = (SELECT id FROM ir_module_module"
        " WHERE name = 'receivable_dunning')"
    )
    cr.execute(
        "UPDATE ir_model_relation SET name = 'dunning_reminder_credit_line_rel'"
        " WHERE name = 'dunning_event_credit_line_rel'"
    )

    for old, new in RENAMED_MODELS:
        cr.execute("UPDATE ir_model SET model = %s WHERE model = %s", [new, old])
        cr.execute(
            """
            SELECT col.table_name, col.column_name
              FROM information_schema.columns col
              JOIN information_schema.tables tab
                ON tab.table_name = col.table_name AND tab.table_schema = col.table_schema
             WHERE col.table_schema = current_schema() AND tab.table_type = 'BASE TABLE'
               AND col.column_name = ANY(%s) AND col.data_type = 'character varying'
            """,
            [list(MODEL_NAME_COLUMNS)],
        )
        for table, column in cr.fetchall():
            cr.execute(
                SQL(
                    "UPDATE %(table)s SET %(column)s = %(new)s WHERE %(column)s = %(old)s",
                    table=SQL.identifier(table),
                    column=SQL.identifier(column),
                    new=new,
                    old=old,
                )
            )
    # Fields of the module whose names said "event": their records keep their ids (tracking values, defaults).
    cr.execute(
        """
        UPDATE ir_model_fields field
           SET name = replace(field.name, 'event', 'reminder')
          FROM ir_model_data data
         WHERE data.model = 'ir.model.fields' AND data.res_id = field.id AND data.module = 'receivable_dunning'
           AND field.name LIKE '%%event%%'
        """
    )
    cr.execute(
        """
        UPDATE ir_model_data
           SET name = replace(replace(name, 'dunning_event', 'dunning_reminder'), 'event', 'reminder')
         WHERE module = 'receivable_dunning' AND name LIKE '%%event%%'
        """
    )
    cr.execute(
        "UPDATE ir_model_data SET noupdate = FALSE"
        " WHERE module = 'receivable_dunning' AND name = 'dunning_statement_table'"
    )
