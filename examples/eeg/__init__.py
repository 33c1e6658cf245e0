"""EEG emotion (valence) personalisation on DEAP-format data (thesis chapter 4)."""
