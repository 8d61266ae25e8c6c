"""Workers: take dispatch commands of one pool, run the job attempts, report what happened."""
