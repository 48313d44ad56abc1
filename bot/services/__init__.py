"""Services: the rules of the bot (FAQ, appeals, deadlines, ratings, reports), knowing no transport."""
