def migrate(cr, version):
    """Make room for what 19.0.1.3.0 loads and enforces.

    - The reminders' statement table now lists the debtor's credits and the net balance, and tells overdue
      invoices from those falling due soon: drop the module's copy of that no-update view so that the update
      loads the new one (mail templates call it by its key, which the new view keeps).
    - At most one scheduled run per company and day is now a unique index: a cron that looped before may have
      left several; the later ones are kept as manual runs so that the index can be built.
    """
    cr.execute(
        """
        WITH old AS (
            DELETE FROM ir_model_data
             WHERE module = 'receivable_dunning' AND name = 'dunning_statement_table' AND model = 'ir.ui.view'
         RETURNING res_id
        )
        DELETE FROM ir_ui_view WHERE id IN (SELECT res_id FROM old)
        """
    )
    cr.execute(
        """
        UPDATE dunning_run run
           SET trigger = 'manual'
          FROM (
                SELECT id, row_number() OVER (PARTITION BY company_id, date ORDER BY id) AS rank
                  FROM dunning_run
                 WHERE trigger = 'scheduled'
               ) ranked
         WHERE ranked.id = run.id AND ranked.rank > 1
        """
    )
