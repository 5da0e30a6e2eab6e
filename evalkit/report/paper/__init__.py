"""Paper tables: the transcribed tables (:mod:`.tables`), ours next to the paper's
(:mod:`.reproduction`), and the ``evalkit reproduce`` report (:mod:`.reproduce`)."""
