def migrate(cr, version):
    """Reminder texts now carry the statement link: reload them although they are no-update data.

    Only the module's own templates are reset; a copy an accountant made keeps its text.
    """
    cr.execute(
        """
        UPDATE ir_model_data
           SET noupdate = FALSE
         WHERE module = 'receivable_dunning'
           AND name IN ('dunning_statement_table', 'sms_template_dunning_reminder')
        """
    )
