"""The business calendar: working hours, public holidays and make-up working days (调休) of mainland China."""
