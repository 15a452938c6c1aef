def migrate(cr, version):
    """Run numbers no longer use a yearly date range: two workers starting the first run of a year both created it."""
    cr.execute(
        """
        UPDATE ir_sequence
           SET use_date_range = FALSE, prefix = 'RUN/%(year)s/'
         WHERE id IN (SELECT res_id FROM ir_model_data
                       WHERE module = 'receivable_dunning' AND name = 'seq_dunning_run' AND model = 'ir.sequence')
        """
    )
