def migrate(cr, version):
    """The reminders' statement table now carries the statement link: drop the module's copy so that the update
    loads the new one (it is no-update data, which an update otherwise leaves alone).

    Only the module's own view goes; mail templates call it by its key, which the new view keeps.
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
