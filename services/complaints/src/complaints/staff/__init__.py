"""Staff accounts and sign-in (the suite's one place that issues staff tokens), and the staff
console's pages."""
