"""The sandbox's HTTP routes, one ``APIRouter`` per job."""
