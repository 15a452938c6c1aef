def migrate(cr, version):
    """Back to no-update once the statement link is in (see pre-migrate): later edits of the texts are kept."""
    cr.execute(
        """
        UPDATE ir_model_data
           SET noupdate = TRUE
         WHERE module = 'receivable_dunning'
           AND name IN ('dunning_statement_table', 'sms_template_dunning_reminder')
        """
    )
