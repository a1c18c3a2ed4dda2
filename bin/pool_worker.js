// A campaign pool thread's entry (cli/campaign_pool.ts): registers tsx (threads do not inherit the
// parent's loader hooks), then hands tinypool the task function of cli/campaign_task.ts.
import { register } from 'tsx/esm/api';

register();
const { default: campaignTask } = await import('../cli/campaign_task.ts');
export default campaignTask;
