def migrate(cr, version):
    """Reminder SMS carry the statement link: append it to the module's template, in every language, unless
    the text already has it (a copy an accountant made is left alone)."""
    cr.execute(
        """
        UPDATE sms_template template
           SET body = (
                SELECT jsonb_object_agg(
                           lang,
                           CASE WHEN text LIKE '%%statement_url%%' THEN text
                                ELSE text || %s END)
                  FROM jsonb_each_text(template.body) AS translation(lang, text)
           )
         WHERE id IN (SELECT res_id FROM ir_model_data
                       WHERE module = 'receivable_dunning' AND name = 'sms_template_dunning_reminder')
        """,
        ["{{ (' ' + object.statement_url) if object.statement_url else '' }}"],
    )
