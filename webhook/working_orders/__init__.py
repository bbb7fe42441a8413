"""Working orders: entries and exits that rest on the book, re-priced, timed out and escalated by
one owner (the desk), every step recorded (table `working_orders`, migration 0007)."""
